"""CIFAR-10 (50,000 / 10,000 colour 32 x 32 images, 10 classes).

Source: the python archive `cifar-10-python.tar.gz` in torchvision's layout (`<data_dir>/`,
where torchvision's download leaves it beside `cifar-10-batches-py/`). Its batches are
pickles, so the archive's SHA-256 is checked against the published one before anything in
it is read, the batches are read from the verified archive in memory (never from loose files
whose digests nobody publishes), and they are unpickled with an allow-list of numpy types
only. Offline, the error names the file to put in place.
"""

from __future__ import annotations

import hashlib
import io
import pickle
import tarfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lilbench.data.base import Dataset, Log, register_dataset, register_preparer
from lilbench.data.safe_pickle import restricted_loads
from lilbench.data.verified import read_verified, try_torchvision
from lilbench.errors import DataError
from lilbench.lazy import lazy_module

if TYPE_CHECKING:
    import torch
else:
    torch = lazy_module("torch")

ARCHIVE = "cifar-10-python.tar.gz"
# SHA-256 of the archive at https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz (as Keras
# pins it; its MD5 c58f30108f718f92721af3b95e74349a is the one torchvision checks).
ARCHIVE_SHA256 = "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"
FOLDER = "cifar-10-batches-py"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
SHAPE = (3, 32, 32)
# The usual per-channel statistics of the CIFAR-10 training set, applied inside the model.
MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2470, 0.2435, 0.2616)
HINT = f"delete it and put the original {ARCHIVE} there (or run `lilbench data prepare cifar10`)"


@register_preparer("cifar10")
def prepare_cifar10(data_dir: Path, log: Log = lambda _: None) -> Path:
    """Make sure the archive is in data_dir (downloading when online); returns data_dir. Its
    checksum is checked when it is read."""
    if not (data_dir / ARCHIVE).is_file():
        import torchvision

        def download(root: str) -> None:
            torchvision.datasets.CIFAR10(root, download=True)

        try_torchvision(download, data_dir, log)
    if not (data_dir / ARCHIVE).is_file():
        raise DataError(
            f"CIFAR-10 is not in {data_dir} and cannot be downloaded here; put the original "
            f"{ARCHIVE} (SHA-256 {ARCHIVE_SHA256[:12]}...) there"
        )
    return data_dir


def _batch(tar: tarfile.TarFile, name: str, where: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        member = tar.extractfile(f"{FOLDER}/{name}")
    except KeyError:
        member = None
    if member is None:
        raise DataError(f"{where} holds no {FOLDER}/{name}; {HINT}")
    try:
        entry: Any = restricted_loads(member.read())
    except (pickle.UnpicklingError, ValueError, EOFError) as exc:
        raise DataError(f"{FOLDER}/{name} in {where}: {exc}; {HINT}") from exc
    if not isinstance(entry, dict):
        raise DataError(f"{FOLDER}/{name} in {where} is not a CIFAR-10 batch; {HINT}")
    # Written by Python 2: keys are byte strings, read back as str (latin1) or bytes.
    entry = {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in entry.items()}
    data, labels = entry.get("data"), entry.get("labels")
    c, h, w = SHAPE
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2:
        raise DataError(f"{FOLDER}/{name} in {where} has no uint8 data array; {HINT}")
    if data.shape[1] != c * h * w or labels is None or len(labels) != len(data):
        raise DataError(f"{FOLDER}/{name} in {where} has malformed data or labels; {HINT}")
    y = np.asarray(labels, dtype=np.int64)
    if y.size and (y.min() < 0 or y.max() > 9):
        raise DataError(f"{FOLDER}/{name} in {where} has labels outside 0..9; {HINT}")
    return data, y


@register_dataset("cifar10", image_shape=(3, 32, 32))
def load_cifar10(data_dir: Path, seed: int = 0) -> Dataset:
    del seed  # a fixed data set
    path = prepare_cifar10(data_dir) / ARCHIVE
    packed = read_verified(path, ARCHIVE_SHA256, hint=HINT)
    try:
        with tarfile.open(fileobj=io.BytesIO(packed), mode="r:gz") as tar:
            train = [_batch(tar, name, path) for name in TRAIN_BATCHES]
            x_test, y_test = _batch(tar, TEST_BATCH, path)
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise DataError(f"{path} is not a readable tar.gz archive ({exc}); {HINT}") from exc

    def images(a: np.ndarray) -> torch.Tensor:
        # The batches store each image channel-major (1,024 red, then green, then blue),
        # the (C, H, W) order flattened, which is the layout lilbench's flat inputs use.
        return torch.from_numpy(a.astype(np.float32) / np.float32(255.0))

    return Dataset(
        name="cifar10",
        x_train=images(np.concatenate([x for x, _ in train])),
        y_train=torch.from_numpy(np.concatenate([y for _, y in train])),
        x_test=images(x_test),
        y_test=torch.from_numpy(y_test),
        num_classes=10,
        checksum=hashlib.sha256(ARCHIVE_SHA256.encode()).hexdigest(),
        pixels=True,
        shape=SHAPE,
        mean=MEAN,
        std=STD,
    )
