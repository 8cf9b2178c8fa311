"""Fashion-MNIST (60,000 / 10,000 grey 28 x 28 images of clothes, 10 classes).

Files: the four gzipped IDX files in torchvision's layout, `<data_dir>/FashionMNIST/raw/`,
each checked against its published SHA-256 before it is decompressed. torchvision downloads
them when the machine is online; offline, the error names the directory to put them in.
"""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from lilbench.data.base import Dataset, Log, register_dataset, register_preparer
from lilbench.data.idx import parse_idx
from lilbench.data.verified import read_verified, try_torchvision
from lilbench.errors import DataError
from lilbench.lazy import lazy_module

if TYPE_CHECKING:
    import torch
else:
    torch = lazy_module("torch")

# name -> (array shape, SHA-256 of the .gz file as published by the data set's authors)
FILES: dict[str, tuple[tuple[int, ...], str]] = {
    "train-images-idx3-ubyte.gz": (
        (60000, 28, 28),
        "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
    ),
    "train-labels-idx1-ubyte.gz": (
        (60000,),
        "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
    ),
    "t10k-images-idx3-ubyte.gz": (
        (10000, 28, 28),
        "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
    ),
    "t10k-labels-idx1-ubyte.gz": (
        (10000,),
        "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
    ),
}
HINT = "delete it and run `lilbench data prepare fashion-mnist` again"


def raw_dir(data_dir: Path) -> Path:
    return data_dir / "FashionMNIST" / "raw"


def _missing(directory: Path) -> list[str]:
    return [name for name in FILES if not (directory / name).is_file()]


@register_preparer("fashion-mnist")
def prepare_fashion_mnist(data_dir: Path, log: Log = lambda _: None) -> Path:
    """Make sure the four files are under data_dir (downloading when online); returns their
    directory. Their checksums are checked when they are read."""
    out = raw_dir(data_dir)
    if _missing(out):
        import torchvision

        def download(root: str) -> None:
            torchvision.datasets.FashionMNIST(root, download=True)

        try_torchvision(download, data_dir, log)
    missing = _missing(out)
    if missing:
        raise DataError(
            f"Fashion-MNIST is not in {out} and cannot be downloaded here; put the standard "
            f"files {', '.join(missing)} there (from the Fashion-MNIST release)"
        )
    return out


def _read(directory: Path, name: str) -> np.ndarray:
    shape, sha256 = FILES[name]
    packed = read_verified(directory / name, sha256, hint=HINT)
    try:
        raw = gzip.decompress(packed)
    except (OSError, EOFError) as exc:
        raise DataError(f"{directory / name} is not a readable gzip file ({exc}); {HINT}") from exc
    return parse_idx(raw, shape, source=str(directory / name), hint=HINT)


def _checksum() -> str:
    return hashlib.sha256("".join(h for _, h in FILES.values()).encode()).hexdigest()


@register_dataset("fashion-mnist")
def load_fashion_mnist(data_dir: Path, seed: int = 0) -> Dataset:
    del seed  # a fixed data set
    directory = prepare_fashion_mnist(data_dir)
    a = {name: _read(directory, name) for name in FILES}

    def images(arr: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(arr.reshape(len(arr), -1).astype(np.float32) / np.float32(255.0))

    def labels(arr: np.ndarray) -> torch.Tensor:
        if arr.size and int(arr.max()) > 9:
            raise DataError(f"Fashion-MNIST labels in {directory} exceed 9; {HINT}")
        return torch.from_numpy(arr.astype(np.int64))

    return Dataset(
        name="fashion-mnist",
        x_train=images(a["train-images-idx3-ubyte.gz"]),
        y_train=labels(a["train-labels-idx1-ubyte.gz"]),
        x_test=images(a["t10k-images-idx3-ubyte.gz"]),
        y_test=labels(a["t10k-labels-idx1-ubyte.gz"]),
        num_classes=10,
        checksum=_checksum(),
        pixels=True,
        shape=(1, 28, 28),
    )
