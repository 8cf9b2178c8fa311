"""A user's own data: npz and image folders in every layout, the content hash in every key,
each bad input refused in one line with nothing written, the API's arrays, and a suite over
an npz end to end (scikit-learn's digits, the example's data; a colour set)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import cli

from lilbench.data import load_dataset, user_files
from lilbench.errors import DataError
from lilbench.training.config import TrainConfig

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
from own_data import save_digits


def _colour(n: int, seed: int = 0, *, side: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """(N, side, side, 3) uint8 images whose class is their dominant channel (3 classes)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = rng.integers(0, 90, (n, side, side, 3))
    for i, c in enumerate(y):
        x[i, :, :, c] += 160
    return x.astype(np.uint8), y


@pytest.mark.parametrize("layout", ["nhwc", "nchw", "grey", "grey-float"])
def test_npz_layouts_load_to_the_same_images(tmp_path: Path, layout: str) -> None:
    x, y = _colour(20)
    if layout == "nchw":
        x = x.transpose(0, 3, 1, 2)
    if layout.startswith("grey"):
        x = x[..., 0]
    if layout == "grey-float":
        x = x.astype(np.float32) / 255
    path = tmp_path / "d.npz"
    np.savez(path, x_test=x, y_test=y)
    data = load_dataset(user_files.named(path))
    shape = (1, 8, 8) if layout.startswith("grey") else (3, 8, 8)
    assert data.image_shape == shape and data.num_classes == 3 and len(data.x_train) == 0
    assert data.x_test.min() >= 0 and data.x_test.max() <= 1
    first = np.asarray(x[0], dtype=np.float64)
    if layout == "nhwc":
        first = first.transpose(2, 0, 1)
    scale = 1.0 if layout == "grey-float" else 255.0
    assert np.allclose(data.x_test[0].numpy(), first.reshape(-1) / scale, atol=1e-6)
    assert data.checksum == user_files.content_sha256(path)


def test_the_content_not_the_path_names_the_data(tmp_path: Path) -> None:
    x, y = _colour(30)
    a, b, c = tmp_path / "a.npz", tmp_path / "sub" / "b.npz", tmp_path / "c.npz"
    b.parent.mkdir()
    for p in (a, b):
        np.savez(p, x_test=x, y_test=y, x_train=x, y_train=y)
    y2 = y.copy()
    y2[0] = (y2[0] + 1) % 3
    np.savez(c, x_test=x, y_test=y2, x_train=x, y_train=y)

    def key(p: Path) -> str:
        return TrainConfig.for_dataset(user_files.named(p), epochs=1).validate().config_hash()

    assert key(a) == key(b)  # moved: the same data, the same checkpoint
    assert key(a) != key(c)  # one label changed: a new data set
    assert key(a) != TrainConfig.for_dataset("mnist", epochs=1).config_hash()


def _write_bad(tmp_path: Path, case: str) -> Path:
    x, y = _colour(12)
    xf = x.astype(np.float32) / 255
    path = tmp_path / f"{case}.npz"
    if case == "nan":
        xf[0, 0, 0, 0] = np.nan
        np.savez(path, x_test=xf, y_test=y)
    elif case == "range":
        np.savez(path, x_test=xf * 255, y_test=y)
    elif case == "labels":
        np.savez(path, x_test=x, y_test=y, num_classes=2)
    elif case == "lengths":
        np.savez(path, x_test=x, y_test=y[:-1])
    elif case == "empty":
        np.savez(path, x_test=x[:0], y_test=y[:0])
    elif case == "pickle":
        np.savez(path, x_test=np.array([{"a": 1}], dtype=object), y_test=y)
    elif case == "one-class":
        path = tmp_path / "one-class"
        (path / "cat").mkdir(parents=True)
        _png(path / "cat" / "0.png", x[0])
    elif case == "ambiguous":
        np.savez(path, x_test=np.zeros((4, 3, 5, 3), np.uint8), y_test=np.array([0, 1, 0, 1]))
    elif case == "missing":
        pass
    return path


def _png(path: Path, img: np.ndarray) -> None:
    from PIL import Image

    Image.fromarray(img).save(path)


BAD = {
    "nan": "holds NaN",
    "range": "float pixels must lie in [0, 1], found [0, 249]",
    "labels": "labels must lie in 0..1",
    "lengths": "12 images but 11 labels",
    "empty": "the test split is empty",
    "pickle": "need pickle",
    "one-class": "found 1 class folder",
    "ambiguous": "cannot tell channels",
    "missing": "does not exist",
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_each_bad_input_is_one_line_exit_2_with_nothing_written(
    tmp_path: Path, case: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write_bad(tmp_path, case)
    runs = tmp_path / "runs"
    args = ["attack", "fgsm", "--dataset", f"file:{path}", "--eps", "0.1", "--runs-dir", str(runs)]
    code, _, err = cli(args, capsys)
    assert code == 2 and BAD[case] in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not runs.exists()


def test_a_file_over_the_size_cap_is_refused_before_it_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "big.npz"
    with path.open("wb") as f:  # sparse: its size, not its bytes, is what is checked
        f.truncate(5 * 10**9)
    read: list[Path] = []
    monkeypatch.setattr(user_files, "content_sha256", lambda p: read.append(p) or "0")
    with pytest.raises(DataError, match=r"4\.7 GiB, over the 2\.0 GiB"):
        load_dataset(user_files.named(path))
    assert read == []


def test_a_folder_of_class_folders_with_train_and_test(tmp_path: Path) -> None:
    x, y = _colour(24)
    names = ["blue", "green", "red"]  # sorted: class k is names[k]
    for split, rows in (("train", range(0, 16)), ("test", range(16, 24))):
        for i in rows:
            folder = tmp_path / "imgs" / split / names[int(y[i])]
            folder.mkdir(parents=True, exist_ok=True)
            _png(folder / f"{i}.png", x[i])
    data = load_dataset(user_files.named(tmp_path / "imgs"))
    assert data.image_shape == (3, 8, 8) and data.num_classes == 3
    assert len(data.x_train) == 16 and len(data.x_test) == 8
    # the test images come back exactly, in class-then-name order
    order = sorted(range(16, 24), key=lambda i: (int(y[i]), str(i)))
    want = x[order].transpose(0, 3, 1, 2).reshape(8, -1) / 255.0
    assert np.allclose(data.x_test.numpy(), want, atol=1e-6)
    assert data.y_test.tolist() == [int(y[i]) for i in order]


def test_training_needs_a_training_split(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    x, y = _colour(12)
    np.savez(tmp_path / "t.npz", x_test=x, y_test=y)
    runs = tmp_path / "runs"
    code, _, err = cli(
        ["train", "--dataset", f"file:{tmp_path / 't.npz'}", "--runs-dir", str(runs)], capsys
    )
    assert code == 2 and "no training split" in err and not (runs / "models").exists()


class _Dominant(torch.nn.Module):
    """Logits: each channel's mean brightness (the colour data's rule)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(len(x), 3, -1).mean(2) * 10


def test_the_api_takes_arrays_and_keys_them_by_content(tmp_path: Path) -> None:
    import lilbench

    x, y = _colour(40)
    kw = {"attacks": [{"name": "fgsm", "eps": [0.05]}], "runs_dir": tmp_path / "r"}
    first = lilbench.evaluate(_Dominant(), data=(x, y), **kw)  # type: ignore[arg-type]
    assert first.points[0].clean_accuracy == 1.0 and not first.failed_checks
    again = lilbench.evaluate(_Dominant(), data=(torch.from_numpy(x), y), **kw)  # type: ignore[arg-type]
    assert again.points == first.points  # the same content as a tensor: the same entry
    flipped = y.copy()
    flipped[:4] = (flipped[:4] + 1) % 3
    other = lilbench.evaluate(_Dominant(), data=(x, flipped), **kw)  # type: ignore[arg-type]
    assert other.points[0].model != first.points[0].model
    assert other.points[0].clean_accuracy == 0.9
    with pytest.raises(DataError, match="40 images but 39 labels"):
        lilbench.evaluate(_Dominant(), data=(x, y[:-1]), **kw)  # type: ignore[arg-type]


DIGITS_SUITE = """\
name: digits
dataset: {{file: digits.npz}}
train: {{epochs: 3}}
betas: [0, 1]
seeds: [0]
test_limit: 120
noise: {{draws: 1, gaussian: [0.3]}}
corruptions: {{names: [rotate, fog]}}
certify: [{{eps: [0.01], methods: [crown]}}]
geometry: true
attacks:
  - {{name: fgsm, eps: [0.05, 0.1]}}
  - {{name: autoattack, eps: [0.1]}}
"""


def test_a_suite_over_the_examples_digits_npz_end_to_end(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    n_train, n_test = save_digits(tmp_path / "digits.npz")
    assert (n_train, n_test) == (1437, 360)
    suite = tmp_path / "digits.yaml"
    suite.write_text(DIGITS_SUITE.format())
    runs, out = tmp_path / "runs", tmp_path / "out"
    code, _, err = cli(["run", str(suite), "--runs-dir", str(runs), "--workers", "1"], capsys)
    assert code == 0, err
    code, _, err = cli(
        ["report", str(suite), "--runs-dir", str(runs), "--out-dir", str(out)], capsys
    )
    assert code == 0, err
    text = (out / "digits.md").read_text()
    for heading in (
        "## Robust accuracy under AUTOATTACK",
        "### Common corruptions (MNIST-C's 2, severity 1)",
        "## Certified lower bounds",
        "## Geometry of the representation",
    ):
        assert heading in text
    assert "every noise and corruption check passed on all 2 models" in text
    assert (out / "digits-corruptions.png").stat().st_size > 500
    # the same suite, moved with its data (the old file gone), reuses every model, and a new
    # attack reads the data from where it is now
    moved = tmp_path / "moved"
    moved.mkdir()
    (tmp_path / "digits.npz").rename(moved / "digits.npz")
    more = DIGITS_SUITE.format().replace("eps: [0.05, 0.1]}", "eps: [0.05, 0.1, 0.2]}")
    (moved / "digits.yaml").write_text(more)
    models = sorted(p.name for p in (runs / "models").iterdir())
    code, _, err = cli(
        ["run", str(moved / "digits.yaml"), "--runs-dir", str(runs), "--workers", "1"], capsys
    )
    assert code == 0 and sorted(p.name for p in (runs / "models").iterdir()) == models


RGB_SUITE = """\
name: rgb
dataset: {file: rgb.npz}
train: {epochs: 1}
betas: [0, 1]
seeds: [0]
test_limit: 40
noise: {draws: 1, gaussian: [0.1]}
corruptions: {severity: 3}
certify: [{eps: [0.003], methods: [crown]}]
geometry: true
attacks:
  - {name: fgsm, eps: [0.01, 0.03]}
  - {name: autoattack, eps: [0.03]}
"""


def test_a_colour_suite_runs_every_section_with_cifar10_c_and_refuses_mnist_c(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    x, y = _colour(240, side=32)
    np.savez(tmp_path / "rgb.npz", x_train=x[:200], y_train=y[:200], x_test=x[200:], y_test=y[200:])
    (tmp_path / "bad.yaml").write_text(RGB_SUITE.replace("{severity: 3}", "{set: mnist-c}"))
    code, _, err = cli(
        ["run", str(tmp_path / "bad.yaml"), "--runs-dir", str(tmp_path / "r")], capsys
    )
    assert code == 2 and "apply to 1-channel images; this data set's have 3" in err
    assert not (tmp_path / "r").exists()
    (tmp_path / "rgb.yaml").write_text(RGB_SUITE)
    runs, out = tmp_path / "r", tmp_path / "out"
    code, _, err = cli(
        ["run", str(tmp_path / "rgb.yaml"), "--runs-dir", str(runs), "--workers", "1"], capsys
    )
    assert code == 0, err
    code, _, err = cli(
        ["report", str(tmp_path / "rgb.yaml"), "--runs-dir", str(runs), "--out-dir", str(out)],
        capsys,
    )
    assert code == 0, err
    text = (out / "rgb.md").read_text()
    for heading in (
        "## Robust accuracy under AUTOATTACK",
        "### Common corruptions (CIFAR-10-C's 15, severity 3)",
        "## Certified lower bounds",
        "## Geometry of the representation",
    ):
        assert heading in text
    assert "every noise and corruption check passed on all 2 models" in text
    from PIL import Image

    with Image.open(out / "rgb-corruptions.png") as fig:  # a colour panel, not a grey one
        pixels = np.asarray(fig.convert("RGB"), dtype=np.int16)
    assert np.abs(pixels[..., 0] - pixels[..., 2]).max() > 60


CONV_FACTORY = """
from torch import nn


def build() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.AvgPool2d(2),
        nn.Flatten(), nn.Linear(4 * 4 * 4, 16), nn.ReLU(), nn.Linear(16, 3),
    ).eval()
"""

CONV_SUITE = """\
name: rgbconv
dataset: {file: rgb8.npz}
train: {conv: small, pool: avg, activation: relu, width: 32, depth: 2, epochs: 2}
betas: [0, 1]
models:
  - {name: user-conv, factory: "userconv:build", weights: userconv.safetensors}
seeds: [0]
test_limit: 40
noise: {draws: 1, gaussian: [0.1]}
corruptions: {names: [gaussian-noise, frost, jpeg-compression], severity: 2}
certify: [{eps: [0.001, 0.004], methods: [ibp, crown]}]
geometry: true
attacks:
  - {name: fgsm, eps: [0.01, 0.03]}
  - {name: autoattack, eps: [0.03]}
"""


def test_a_suite_over_the_conv_lil_and_a_users_conv_model_on_colour_data(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The conv LIL (average pooling, so certificates bound it) and a user's convolutional
    factory model on an 8 x 8 colour npz: every section of the report."""
    from safetensors.torch import save_file

    (tmp_path / "userconv.py").write_text(CONV_FACTORY)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    sys.modules.pop("userconv", None)
    import userconv  # type: ignore[import-not-found]

    torch.manual_seed(0)
    x, y = _colour(240, side=8)
    net = userconv.build().train()
    opt = torch.optim.Adam(net.parameters(), lr=0.02)
    xt = torch.from_numpy(x[:200].transpose(0, 3, 1, 2) / 255.0).float()
    for _ in range(30):  # the user's own training, briefly
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(xt), torch.from_numpy(y[:200])).backward()
        opt.step()
    save_file(net.eval().state_dict(), str(tmp_path / "userconv.safetensors"))
    np.savez(
        tmp_path / "rgb8.npz", x_train=x[:200], y_train=y[:200], x_test=x[200:], y_test=y[200:]
    )
    (tmp_path / "s.yaml").write_text(CONV_SUITE)
    runs, out = tmp_path / "r", tmp_path / "out"
    code, _, err = cli(
        ["run", str(tmp_path / "s.yaml"), "--runs-dir", str(runs), "--workers", "1"], capsys
    )
    assert code == 0, err
    code, _, err = cli(
        ["report", str(tmp_path / "s.yaml"), "--runs-dir", str(runs), "--out-dir", str(out)], capsys
    )
    assert code == 0, err
    text = (out / "rgbconv.md").read_text()
    for heading in (
        "## Robust accuracy under AUTOATTACK",
        "### Common corruptions (CIFAR-10-C's 3, severity 2)",
        "## Certified lower bounds",
        "## Geometry of the representation",
    ):
        assert heading in text
    user = [line for line in text.splitlines() if line.startswith("| user-conv |")]
    assert len(user) >= 8 and "FAIL" not in " ".join(user)  # in every table, every check passed
    certs = sorted((runs / "certificates").glob("*/*.json"))
    assert len(certs) == 3  # two conv LILs and the user's model
    for path in certs:
        import json

        rec = json.loads(path.read_text())
        assert all(c["passed"] for c in rec["checks"]), rec["checks"]
