"""Fashion-MNIST (60,000 / 10,000 grey 28 x 28 images of clothes, 10 classes).

A file is accepted by its content: the SHA-256 of its IDX bytes, as the release's files
decompress to. So the release's .gz files, the re-compressed copies Debian and Ubuntu ship
(`apt-get install dataset-fashion-mnist`, in /usr/share/datasets/fashion-mnist) and the
decompressed files torchvision leaves beside its download are all the same data set.
Decompression is bounded by the file's known size (a bomb or an extra byte is refused
before it fills memory).

Sources, in order: the data directory (`<data_dir>/FashionMNIST/raw`, torchvision's
layout); the distribution's directory; torchvision's download when online. Files from the
distribution are verified, then installed into the data directory (the .gz and the IDX file
beside it, as torchvision leaves them), so other tools read them too.
"""

from __future__ import annotations

import hashlib
import math
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from lilbench.data.base import Dataset, Log, register_dataset, register_preparer
from lilbench.data.idx import parse_idx
from lilbench.data.verified import check_sha256, gunzip_bounded, try_torchvision
from lilbench.errors import DataError
from lilbench.io import atomic_path, write_bytes_atomic
from lilbench.lazy import lazy_module

if TYPE_CHECKING:
    import torch
else:
    torch = lazy_module("torch")


@dataclass(frozen=True)
class IdxFile:
    shape: tuple[int, ...]
    sha256: str  # of the decompressed IDX bytes

    @property
    def size(self) -> int:
        return 4 + 4 * len(self.shape) + math.prod(self.shape)


# name (without .gz) -> content; the digests of the release's files decompressed, as several
# independent loaders publish them (the Debian package's .gz bytes differ, their content not).
FILES: dict[str, IdxFile] = {
    "train-images-idx3-ubyte": IdxFile(
        (60000, 28, 28), "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"
    ),
    "train-labels-idx1-ubyte": IdxFile(
        (60000,), "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"
    ),
    "t10k-images-idx3-ubyte": IdxFile(
        (10000, 28, 28), "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"
    ),
    "t10k-labels-idx1-ubyte": IdxFile(
        (10000,), "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"
    ),
}
SYSTEM_DIR_ENV = "LILBENCH_FASHION_MNIST_SYSTEM_DIR"  # where a distribution put the files
SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
APT_PACKAGE = "dataset-fashion-mnist"
HINT = "delete it and run `lilbench data prepare fashion-mnist` again"


def raw_dir(data_dir: Path) -> Path:
    return data_dir / "FashionMNIST" / "raw"


def system_dir() -> Path:
    return Path(os.environ.get(SYSTEM_DIR_ENV) or SYSTEM_DIR)


def _find(directory: Path, name: str) -> Path | None:
    """The file holding `name` in `directory`: the IDX file, else its .gz."""
    for candidate in (directory / name, directory / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _complete(directory: Path) -> bool:
    return all(_find(directory, name) is not None for name in FILES)


def read_content(path: Path, name: str, *, hint: str = HINT) -> bytes:
    """The IDX bytes of `path` (a .gz or an IDX file) after their size and SHA-256 matched
    `name`'s; nothing larger than the file's known size is ever read into memory."""
    spec = FILES[name]
    if path.suffix == ".gz":
        data = gunzip_bounded(path, spec.size, hint=hint)
    else:
        try:
            actual = path.stat().st_size
        except OSError as exc:
            raise DataError(f"cannot read {path}: {exc.strerror}; {hint}") from exc
        if actual != spec.size:
            raise DataError(f"{path} has {actual:,} bytes, expected {spec.size:,}; {hint}")
        data = path.read_bytes()
    return check_sha256(data, spec.sha256, source=str(path), hint=hint)


def _install(source: Path, out: Path, log: Log) -> None:
    """Verify the four files in `source`, then copy them into `out` (the .gz as it is and
    the IDX file it holds), each atomically; a file that fails leaves `out` untouched."""
    hint = (
        f"reinstall the package (`apt-get install --reinstall {APT_PACKAGE}`) or put the "
        f"release's files in {out}"
    )
    found = {name: _find(source, name) for name in FILES}
    contents = {}
    for name, path in found.items():
        assert path is not None  # _complete(source) was checked
        contents[name] = read_content(path, name, hint=hint)
    for name, path in found.items():
        assert path is not None
        write_bytes_atomic(out / name, contents[name])
        if path.suffix == ".gz":
            with atomic_path(out / path.name) as tmp:
                shutil.copyfile(path, tmp)
    log(f"verified and copied into {out}")


@register_preparer("fashion-mnist")
def prepare_fashion_mnist(data_dir: Path, log: Log = lambda _: None) -> Path:
    """Make sure the four files are under data_dir (from the distribution's directory, or
    torchvision's download when online) and say where they came from; returns their
    directory. Their content is checked when they are read."""
    out = raw_dir(data_dir)
    if _complete(out):
        log(f"source: the data directory ({out})")
        return out
    system = system_dir()
    if _complete(system):
        log(f"source: {system} (the {APT_PACKAGE} package of Debian and Ubuntu)")
        _install(system, out, log)
        return out

    def download(root: str) -> None:
        import torchvision

        torchvision.datasets.FashionMNIST(root, download=True)

    if try_torchvision(download, data_dir, log) and _complete(out):
        log("source: torchvision's download")
        return out
    missing = [f"{name}.gz" for name in FILES if _find(out, name) is None]
    raise DataError(
        f"Fashion-MNIST is not in {out} and cannot be downloaded here; on Debian or Ubuntu "
        f"run `sudo apt-get install {APT_PACKAGE}` (lilbench then finds it in {SYSTEM_DIR}), "
        f"or put the release's files {', '.join(missing)} in {out}"
    )


def _checksum() -> str:
    return hashlib.sha256("".join(f.sha256 for f in FILES.values()).encode()).hexdigest()


@register_dataset("fashion-mnist", image_shape=(1, 28, 28))
def load_fashion_mnist(data_dir: Path, seed: int = 0) -> Dataset:
    del seed  # a fixed data set
    directory = prepare_fashion_mnist(data_dir)
    a = {}
    for name, spec in FILES.items():
        path = _find(directory, name)
        assert path is not None  # prepare_fashion_mnist found all four
        a[name] = parse_idx(read_content(path, name), spec.shape, source=str(path), hint=HINT)

    def images(arr: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(arr.reshape(len(arr), -1).astype(np.float32) / np.float32(255.0))

    def labels(arr: np.ndarray) -> torch.Tensor:
        if arr.size and int(arr.max()) > 9:
            raise DataError(f"Fashion-MNIST labels in {directory} exceed 9; {HINT}")
        return torch.from_numpy(arr.astype(np.int64))

    return Dataset(
        name="fashion-mnist",
        x_train=images(a["train-images-idx3-ubyte"]),
        y_train=labels(a["train-labels-idx1-ubyte"]),
        x_test=images(a["t10k-images-idx3-ubyte"]),
        y_test=labels(a["t10k-labels-idx1-ubyte"]),
        num_classes=10,
        checksum=_checksum(),
        pixels=True,
        shape=(1, 28, 28),
    )
