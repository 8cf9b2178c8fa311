"""Fashion-MNIST and CIFAR-10 in their real on-disk formats (written here, small), the
convolutional LIL, and a tiny suite over each run end to end through the CLI."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import pickle
import tarfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from helpers import assert_every_record_passed, cli

from lilbench.attacks import art_backend as art
from lilbench.data import cifar10, fashion_mnist, load_dataset
from lilbench.data.idx import write_idx
from lilbench.errors import DataError
from lilbench.models.conv import ConvLIL
from lilbench.models.family import DataShape
from lilbench.objectives.isometry import iso_loss
from lilbench.training.checkpoint import load_model, save_checkpoint
from lilbench.training.config import TrainConfig
from lilbench.training.train import train

N_TRAIN, N_TEST = 300, 40


def _images(rng: np.random.Generator, n: int, shape: tuple[int, ...]) -> tuple[Any, Any]:
    """Learnable images: each class a brighter band of rows, plus noise (uint8)."""
    y = rng.integers(0, 10, n).astype(np.uint8)
    x = rng.integers(0, 90, (n, *shape)).astype(np.int64)
    rows = shape[-2]
    for i, label in enumerate(y):
        band = slice(int(label) * rows // 10, (int(label) + 1) * rows // 10)
        x[i, ..., band, :] += 150
    return np.clip(x, 0, 255).astype(np.uint8), y


def write_fashion(root: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The four gzipped IDX files in torchvision's FashionMNIST/raw layout; the loader's
    published digests are swapped for these files' own."""
    rng = np.random.default_rng(0)
    raw = fashion_mnist.raw_dir(root)
    raw.mkdir(parents=True)
    x_tr, y_tr = _images(rng, N_TRAIN, (28, 28))
    x_te, y_te = _images(rng, N_TEST, (28, 28))
    files = {}
    for name, arr in (
        ("train-images-idx3-ubyte", x_tr),
        ("train-labels-idx1-ubyte", y_tr),
        ("t10k-images-idx3-ubyte", x_te),
        ("t10k-labels-idx1-ubyte", y_te),
    ):
        content = write_idx(raw / name, arr)
        (raw / f"{name}.gz").write_bytes(gzip.compress(content))
        files[name] = fashion_mnist.IdxFile(arr.shape, hashlib.sha256(content).hexdigest())
    monkeypatch.setattr(fashion_mnist, "FILES", files)
    monkeypatch.setenv(fashion_mnist.SYSTEM_DIR_ENV, str(root / "no-system-dir"))
    return raw


def _batch_pickle(x: np.ndarray, y: np.ndarray, label: str) -> bytes:
    # The real batches are protocol-2 pickles of a dict: data uint8 [n, 3072] channel-major,
    # labels a list of ints, plus a batch label and file names.
    entry = {
        b"batch_label": label.encode(),
        b"labels": [int(v) for v in y],
        b"data": x.reshape(len(x), -1),
        b"filenames": [f"img_{i}.png".encode() for i in range(len(x))],
    }
    return pickle.dumps(entry, protocol=2)


def cifar_batches() -> list[tuple[Any, Any]]:
    """What write_cifar stores: 5 training batches then the test batch, (N, 3, 32, 32) uint8."""
    rng = np.random.default_rng(1)
    train = [_images(rng, N_TRAIN // 5, (3, 32, 32)) for _ in range(5)]
    return [*train, _images(rng, N_TEST, (3, 32, 32))]


def write_cifar(root: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """cifar-10-python.tar.gz holding cifar-10-batches-py/ (5 train batches, test batch,
    batches.meta); the published archive digest is swapped for this archive's own."""
    batches = cifar_batches()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:

        def add(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(f"{cifar10.FOLDER}/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))

        for i, (x, y) in enumerate(batches[:5], start=1):
            add(f"data_batch_{i}", _batch_pickle(x, y, f"training batch {i} of 5"))
        x, y = batches[5]
        add("test_batch", _batch_pickle(x, y, "testing batch 1 of 1"))
        add("batches.meta", pickle.dumps({b"label_names": [b"airplane"] * 10}, protocol=2))
    root.mkdir(parents=True, exist_ok=True)
    path = root / cifar10.ARCHIVE
    path.write_bytes(buf.getvalue())
    monkeypatch.setattr(cifar10, "ARCHIVE_SHA256", hashlib.sha256(buf.getvalue()).hexdigest())
    return path


def test_fashion_mnist_loads_from_its_real_format(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = write_fashion(tmp_path, monkeypatch)
    data = load_dataset("fashion-mnist", data_dir=tmp_path)
    assert data.x_train.shape == (N_TRAIN, 784) and data.image_shape == (1, 28, 28)
    first = gzip.decompress((raw / "t10k-images-idx3-ubyte.gz").read_bytes())[16 : 16 + 784]
    assert torch.equal(data.x_test[0], torch.tensor(list(first)) / 255.0)
    assert data.pixels and data.mean is None
    # the same content compressed otherwise (as Debian re-compressed the release): accepted
    path = raw / "train-labels-idx1-ubyte.gz"
    content = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(content, compresslevel=1, mtime=12345))
    assert torch.equal(load_dataset("fashion-mnist", data_dir=tmp_path).y_train, data.y_train)
    # one changed label, compressed as a valid gzip file: refused by its content
    blob = bytearray(content)
    blob[-1] = (blob[-1] + 1) % 10
    path.write_bytes(gzip.compress(bytes(blob)))
    with pytest.raises(DataError, match=r"train-labels-idx1-ubyte\.gz fails its SHA-256 check"):
        load_dataset("fashion-mnist", data_dir=tmp_path)


def test_cifar10_loads_and_a_tampered_archive_is_never_unpickled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_cifar(tmp_path, monkeypatch)
    data = load_dataset("cifar10", data_dir=tmp_path)
    assert data.x_train.shape == (N_TRAIN, 3072) and data.image_shape == (3, 32, 32)
    assert data.mean is not None and len(data.mean) == 3
    # Exactly the pixels and labels written, in batch order, train and test apart, each
    # image channel-major (C, H, W) flattened, as the models reshape it.
    batches = cifar_batches()
    x_train = np.concatenate([x for x, _ in batches[:5]]).astype(np.float32) / 255
    y_train = np.concatenate([y for _, y in batches[:5]]).astype(np.int64)
    assert np.array_equal(data.x_train.numpy(), x_train.reshape(N_TRAIN, -1))
    assert np.array_equal(data.y_train.numpy(), y_train)
    x_test, y_test = batches[5]
    assert np.array_equal(data.x_test.numpy(), x_test.reshape(N_TEST, -1) / np.float32(255))
    assert np.array_equal(data.y_test.numpy(), y_test.astype(np.int64))
    image = data.x_test[0].reshape(data.image_shape)
    assert torch.equal(image[1, 2, :], torch.from_numpy(x_test[0, 1, 2, :] / np.float32(255)))
    calls: list[int] = []
    monkeypatch.setattr(cifar10, "restricted_loads", lambda b: calls.append(1))
    blob = bytearray(path.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    path.write_bytes(bytes(blob))
    with pytest.raises(DataError, match="fails its SHA-256 check"):
        load_dataset("cifar10", data_dir=tmp_path)
    assert calls == []  # nothing was unpickled


def test_cifar10_pickle_with_code_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Even an archive whose digest is trusted cannot run code through its pickles."""

    class Evil:
        def __reduce__(self) -> tuple[Any, ...]:
            return (print, ("pwned",))

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        data = pickle.dumps({b"data": Evil()}, protocol=2)
        info = tarfile.TarInfo(f"{cifar10.FOLDER}/data_batch_1")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    (tmp_path / cifar10.ARCHIVE).write_bytes(buf.getvalue())
    monkeypatch.setattr(cifar10, "ARCHIVE_SHA256", hashlib.sha256(buf.getvalue()).hexdigest())
    with pytest.raises(DataError, match=r"refusing to load __builtin__\.print"):
        load_dataset("cifar10", data_dir=tmp_path)


def test_offline_without_files_names_the_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LILBENCH_OFFLINE", "1")
    monkeypatch.setenv(fashion_mnist.SYSTEM_DIR_ENV, str(tmp_path / "no-system-dir"))
    code, _, err = cli(["data", "prepare", "cifar10", "--data-dir", str(tmp_path)], capsys)
    assert code == 2 and f"put the original {cifar10.ARCHIVE}" in err and str(tmp_path) in err
    code, _, err = cli(["data", "prepare", "fashion-mnist", "--data-dir", str(tmp_path)], capsys)
    assert code == 2 and "FashionMNIST/raw" in err and "train-images-idx3-ubyte.gz" in err


def _conv_model(channels: int) -> ConvLIL:
    config = TrainConfig.for_dataset("cifar10", conv="small", width=16, depth=2)
    torch.manual_seed(0)
    shape = DataShape(
        dataset="cifar10",
        input_dim=channels * 32 * 32,
        level_classes=(10,),
        image_shape=(channels, 32, 32),
        mean=(0.5,) * channels,
        std=(0.25,) * channels,
    )
    model = config.family.build(config.params, shape)
    assert isinstance(model, ConvLIL)
    return model


def test_conv_lil_normalises_inside_and_eps_lives_in_pixel_space() -> None:
    model = _conv_model(3).eval()
    seen: list[torch.Tensor] = []
    model.extractor[2].register_forward_hook(lambda m, i, o: seen.append(i[0]))  # first conv
    x = torch.rand(6, 3 * 32 * 32)
    model(x)
    expected = (x.view(6, 3, 32, 32) - 0.5) / 0.25
    assert torch.allclose(seen[0], expected)  # the conv sees normalised inputs
    clf = art.make_classifier(
        model, input_dim=x.shape[1], num_classes=10, device=torch.device("cpu")
    )
    y = np.zeros(6, dtype=np.int64)
    xn = x.numpy()
    adv = art.art_pgd(
        clf, xn, y, eps=8 / 255, step=2 / 255, steps=5, restarts=0, batch_size=6, seed=0
    )
    assert float(np.abs(adv - xn).max()) <= 8 / 255 + 1e-6
    assert adv.min() >= 0.0 and adv.max() <= 1.0


def test_conv_iso_loss_equals_the_mlp_formula_and_round_trips(tmp_path: Path) -> None:
    model = _conv_model(3)
    x = torch.rand(20, 3072)
    y = torch.randint(0, 3, (20,))
    logits, phi = model.forward_with_features(x)
    assert torch.equal(phi, model.features(x)) and torch.equal(logits, model(x))
    # L_iso on the conv model's phi is the MLP's formula on the same phi and flat inputs
    d_x, d_phi = torch.cdist(x, x), torch.cdist(phi, phi)
    g = (y[:, None] == y[None, :]).float()
    by_hand = ((g * (d_phi - d_x)) ** 2).mean()
    assert torch.allclose(iso_loss(x, phi, y), by_hand, rtol=1e-5, atol=1e-6)
    assert torch.allclose(
        iso_loss(x.view(20, 3, 32, 32), phi, y), iso_loss(x, phi, y)
    )  # image-shaped inputs are flattened first


def test_conv_checkpoint_round_trips(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_cifar(tmp_path / "data", monkeypatch)
    config = TrainConfig.for_dataset(
        "cifar10", conv="small", width=16, depth=2, epochs=1, beta=1.0
    ).validate()
    data = load_dataset("cifar10", data_dir=tmp_path / "data")
    result = train(config, data)
    ckpt = save_checkpoint(
        tmp_path / "runs",
        result.model,
        config,
        dataset_checksum=data.checksum,
        metrics=result.metrics,
        device="cpu",
    )
    loaded = load_model(ckpt.path)
    assert isinstance(loaded, ConvLIL) and loaded.spec == result.model.spec
    with torch.no_grad():
        assert torch.equal(result.model.eval()(data.x_test), loaded(data.x_test))
    assert tuple(ckpt.meta["architecture"]["mean"]) == cifar10.MEAN
    # the preset brought its head; the config hash names a conv model apart from an MLP
    assert config.model_params["width"] == 16
    assert TrainConfig.for_dataset("cifar10", conv="authors").model_params["width"] == 1000
    assert config.config_hash() != TrainConfig(**{**config.to_dict(), "conv": None}).config_hash()


SUITE = """
name: tiny-{name}
dataset: {name}
train: {{epochs: 2, lr: 0.003{extra}}}
betas: [0, 1]
seeds: [0]
test_limit: 20
model_checks: true
attacks:
  - {{name: fgsm, eps: [0.01, 0.1, 1.0]}}
  - {{name: pgd, eps: [0.1], steps: 5}}
  - {{name: apgd, loss: ce, eps: [0.1], max_iter: 10}}
  - {{name: square, eps: [0.1], max_iter: 30}}
  - {{name: autoattack, eps: [0.3]}}
  - {{name: apgd-search, eps: [0.01, 0.3], levels: 2, max_iter: 5}}
  - {{name: fgsm, objective: paper, eps: [0.1]}}
  - {{name: pgd, paper_faithful: true, eps: [0.5], steps: 3, step: [0.1]}}
"""


@pytest.mark.parametrize("name", ["fashion-mnist", "cifar10"])
def test_tiny_suite_end_to_end(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir = tmp_path / "data"
    if name == "cifar10":
        write_cifar(data_dir, monkeypatch)
        extra = ", conv: small, width: 16, depth: 2"
    else:
        write_fashion(data_dir, monkeypatch)
        extra = ""
    suite = tmp_path / "tiny.yaml"
    suite.write_text(SUITE.format(name=name, extra=extra))
    common = ["--runs-dir", str(tmp_path / "runs"), "--data-dir", str(data_dir)]
    code, _, err = cli(["run", str(suite), "--workers", "1", *common], capsys)
    assert code == 0, err
    out = tmp_path / "reports"
    code, _, err = cli(["report", str(suite), "--out-dir", str(out), *common], capsys)
    assert code == 0, err
    report = (out / f"tiny-{name}.md").read_text()
    for attack in ("FGSM", "APGD-CE", "SQUARE", "AUTOATTACK", "APGD-SEARCH", "PGD-PAPER"):
        assert attack in report.upper()
    # every attack record passed every one of its checks (inside the eps ball and [0, 1],
    # robust <= clean, the accuracy recomputed, the input not mutated, ...)
    records = list((tmp_path / "runs" / "attacks").rglob("*.json"))
    assert len(records) == 2 * 8
    assert assert_every_record_passed(tmp_path / "runs", model_checks=True) > 2 * 8
    for path in records:
        rec = json.loads(path.read_text())
        failed = [c["name"] for c in rec["checks"] if not c["passed"]]
        assert rec["passed"] and not failed, (path.name, failed)
        names = {c["name"] for c in rec["checks"]}
        assert {
            "within eps and [0, 1], finite",
            "robust <= clean accuracy",
            "accuracy recomputed on returned examples",
            "input not mutated",
        } <= names, names


def test_conv_suite_with_certify_is_refused_up_front(tmp_path: Path) -> None:
    from lilbench.errors import ConfigError
    from lilbench.suites import load_suite

    path = tmp_path / "c.yaml"
    path.write_text(
        "name: c\ndataset: cifar10\ntrain: {conv: small}\nbetas: [0]\n"
        "certify: {eps: [0.001]}\nattacks: []\n"
    )
    with pytest.raises(
        ConfigError, match="certify: the conv family's 2x2 max-pooling has no relaxation"
    ):
        load_suite(path)
