"""Fashion-MNIST from the files Debian and Ubuntu ship (`apt-get install
dataset-fashion-mnist`), and the bounded, content-checked reading that accepts them.

The real-data tests need the package (`.ci/run` installs it where apt-get works); without
it they are skipped with that reason. The gzip tests below them need nothing."""

from __future__ import annotations

import gzip
import re
import tracemalloc
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import cli

from lilbench.data import fashion_mnist, load_dataset
from lilbench.data.verified import gunzip_bounded
from lilbench.errors import DataError

SYSTEM = fashion_mnist.SYSTEM_DIR
NAMES = list(fashion_mnist.FILES)
real = pytest.mark.skipif(
    not all((SYSTEM / f"{n}.gz").is_file() for n in NAMES),
    reason=f"{SYSTEM} missing: `apt-get install {fashion_mnist.APT_PACKAGE}` (needs root)",
)


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LILBENCH_OFFLINE", "1")
    monkeypatch.delenv(fashion_mnist.SYSTEM_DIR_ENV, raising=False)


def _files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


@real
def test_distribution_files_are_found_verified_and_installed(
    tmp_path: Path, offline: None, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = cli(["data", "prepare", "fashion-mnist", "--data-dir", str(tmp_path)], capsys)
    assert code == 0, err
    assert f"source: {SYSTEM}" in err
    raw = fashion_mnist.raw_dir(tmp_path)
    # torchvision's layout: each .gz and the IDX file it holds
    assert sorted(p.name for p in raw.iterdir()) == sorted([*NAMES, *(f"{n}.gz" for n in NAMES)])
    data = load_dataset("fashion-mnist", data_dir=tmp_path)
    assert data.x_train.shape == (60000, 784) and data.x_test.shape == (10000, 784)
    assert data.y_train[:10].tolist() == [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]
    assert torch.bincount(data.y_train).tolist() == [6000] * 10
    assert torch.bincount(data.y_test).tolist() == [1000] * 10
    assert float(data.x_train.min()) == 0.0 and float(data.x_train.max()) == 1.0
    # the pixels are the IDX file's bytes / 255
    idx = (raw / "t10k-images-idx3-ubyte").read_bytes()
    first = np.frombuffer(idx[16 : 16 + 784], dtype=np.uint8)
    assert torch.equal(data.x_test[0], torch.from_numpy(first.astype(np.float32) / 255.0))
    # a second prepare reads the data directory, not the distribution's
    code, _, err = cli(["data", "prepare", "fashion-mnist", "--data-dir", str(tmp_path)], capsys)
    assert code == 0 and "source: the data directory" in err


@real
def test_release_layout_gz_only_is_accepted(tmp_path: Path, offline: None) -> None:
    raw = fashion_mnist.raw_dir(tmp_path)
    raw.mkdir(parents=True)
    for name in NAMES:
        (raw / f"{name}.gz").symlink_to(SYSTEM / f"{name}.gz")
    data = load_dataset("fashion-mnist", data_dir=tmp_path)
    assert data.y_test[:5].tolist() == [9, 2, 1, 1, 6]
    assert sorted(p.name for p in raw.iterdir()) == sorted(f"{n}.gz" for n in NAMES)


def _bomb(path: Path, size: int) -> None:
    """A gzip file of `size` zero bytes, written without holding them in memory."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(1 << 20)
    with path.open("wb") as f:
        for _ in range(size >> 20):
            f.write(packer.compress(block))
        f.write(packer.flush())


def _bad_copy(kind: str, source: Path, out: Path) -> None:
    blob = source.read_bytes()
    if kind == "tampered":  # one byte of the compressed stream changed
        changed = bytearray(blob)
        changed[len(blob) // 2] ^= 0x01
        out.write_bytes(bytes(changed))
    elif kind == "truncated":
        out.write_bytes(blob[: len(blob) // 2])
    elif kind == "extra-byte":  # a valid gzip file holding the content and one byte more
        out.write_bytes(gzip.compress(gzip.decompress(blob) + b"\\0"))
    else:
        _bomb(out, 64 << 20)


@real
@pytest.mark.parametrize(
    ("command", "kind"),
    [
        *(("prepare", k) for k in ("tampered", "truncated", "extra-byte", "bomb")),
        ("train", "tampered"),  # refused before any training
        ("train", "bomb"),
    ],
)
def test_a_bad_distribution_file_is_refused_in_one_line_and_nothing_is_written(
    kind: str,
    command: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    system = tmp_path / "system"
    system.mkdir()
    bad = "t10k-images-idx3-ubyte"
    for name in NAMES:
        if name != bad:
            (system / f"{name}.gz").symlink_to(SYSTEM / f"{name}.gz")
    _bad_copy(kind, SYSTEM / f"{bad}.gz", system / f"{bad}.gz")
    monkeypatch.setenv("LILBENCH_OFFLINE", "1")
    monkeypatch.setenv(fashion_mnist.SYSTEM_DIR_ENV, str(system))
    data_dir, runs = tmp_path / "data", tmp_path / "runs"
    args = {
        "prepare": ["data", "prepare", "fashion-mnist"],
        "train": ["train", "--dataset", "fashion-mnist", "--epochs", "1", "--runs-dir", str(runs)],
    }[command]
    code, _, err = cli([*args, "--data-dir", str(data_dir)], capsys)
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert code == 2 and len(lines) == 1, err
    assert f"{bad}.gz" in lines[0]
    reason = {
        "tampered": "(not a readable gzip file|fails its SHA-256 check)",
        "truncated": "is truncated",
        "extra-byte": "decompresses to more than the 7,840,016 bytes",
        "bomb": "decompresses to more than the 7,840,016 bytes",
    }[kind]
    assert re.search(reason, lines[0]), lines[0]
    assert _files(data_dir) == []
    assert [p for p in _files(runs) if ".locks" not in p.parts] == []  # no checkpoint


# --- the bounded reader itself (no package needed) ---


def test_gunzip_bounded_reads_exact_and_multi_member_files(tmp_path: Path) -> None:
    content = bytes(range(256)) * 40
    path = tmp_path / "f.gz"
    path.write_bytes(gzip.compress(content))
    assert gunzip_bounded(path, len(content), hint="h") == content
    path.write_bytes(gzip.compress(content[:1000]) + gzip.compress(content[1000:]))
    assert gunzip_bounded(path, len(content), hint="h") == content
    with pytest.raises(DataError, match=r"truncated \(it decompresses to 10,240 of 10,241"):
        gunzip_bounded(path, len(content) + 1, hint="h")
    with pytest.raises(DataError, match="decompresses to more than the 10,239 bytes"):
        gunzip_bounded(path, len(content) - 1, hint="h")
    path.write_bytes(content)
    with pytest.raises(DataError, match="not a readable gzip file"):
        gunzip_bounded(path, len(content), hint="h")


def test_a_gzip_bomb_is_refused_without_filling_memory(tmp_path: Path) -> None:
    path = tmp_path / "bomb.gz"
    _bomb(path, 512 << 20)  # 512 MiB of zeros in about 0.5 MB
    assert path.stat().st_size < 1 << 20
    tracemalloc.start()
    try:
        with pytest.raises(DataError, match="decompresses to more than the 10,008 bytes"):
            gunzip_bounded(path, 10008, hint="h")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20, peak  # the 1 MiB read buffer and 10 KB of output, not 512 MiB


def test_offline_error_names_the_apt_get_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LILBENCH_OFFLINE", "1")
    monkeypatch.setenv(fashion_mnist.SYSTEM_DIR_ENV, str(tmp_path / "none"))
    code, _, err = cli(["data", "prepare", "fashion-mnist", "--data-dir", str(tmp_path)], capsys)
    assert code == 2
    assert "apt-get install dataset-fashion-mnist" in err and "t10k-labels-idx1-ubyte.gz" in err
    assert _files(tmp_path) == []
