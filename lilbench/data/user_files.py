"""A user's own data: an `.npz` of arrays, or a folder of images with one subfolder per
class, named `file:PATH` (the CLI's `--dataset`, a suite's `dataset: {file: PATH}`); and
arrays handed to the API (`lilbench.evaluate(module, data=(x, y))`).

An npz holds `x_test` and `y_test`, and optionally `x_train`, `y_train` and `num_classes`:
- images are (N, H, W) grey, (N, H, W, C) or (N, C, H, W) with 1, 3 or 4 channels;
- pixels are uint8 0-255 or floats in [0, 1];
- labels are integers in 0 .. num_classes - 1 (default: the largest label + 1).

The data's identity is the SHA-256 of its content (`Dataset.checksum`), which is part of
every key computed on it: a changed file is a new data set, and a moved one the same.
Each bad input is refused in one line before any compute, and nothing is written.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lilbench.errors import DataError
from lilbench.lazy import lazy_module

if TYPE_CHECKING:
    import torch

    from lilbench.data.dataset import Dataset
else:
    torch = lazy_module("torch")

PREFIX = "file:"
ARRAYS = "arrays"  # the name of data handed to the API as arrays
# Read into memory whole (float32 after decoding): past this a file is refused before it is
# read; LILBENCH_MAX_DATA_BYTES raises the cap on a machine with the memory for it.
MAX_BYTES = int(os.environ.get("LILBENCH_MAX_DATA_BYTES", 2 * 1024**3))
CHANNELS = (1, 3, 4)
GREY_MODES = frozenset({"L", "1", "I;16", "I", "F"})  # Pillow's one-channel modes
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


def is_user_data(name: str) -> bool:
    return name.startswith(PREFIX)


def key_name(name: str) -> str:
    """How keys name a data set: a user's data by its checksum alone (beside it in the key),
    so a moved file keeps its records; a registered one by its name."""
    return "user-data" if is_user_data(name) or name == ARRAYS else name


def user_path(name: str) -> Path:
    return Path(name[len(PREFIX) :]).expanduser()


def named(path: Path) -> str:
    """The data set name of a file or folder (absolute, so it names it from anywhere)."""
    return PREFIX + str(path.expanduser().resolve())


def _files(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]


def _check_size(path: Path) -> None:
    if not path.exists():
        raise DataError(f"{path} does not exist; give an .npz file or a folder of class folders")
    size = sum(p.stat().st_size for p in _files(path))
    if size > MAX_BYTES:
        raise DataError(
            f"{path} holds {size / 2**30:.1f} GiB, over the {MAX_BYTES / 2**30:.1f} GiB lilbench "
            "reads into memory; use a subset (or raise LILBENCH_MAX_DATA_BYTES)"
        )


def content_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes; of a folder, over each file's relative path and bytes."""
    h = hashlib.sha256()
    root = path if path.is_dir() else path.parent
    for f in _files(path):
        if path.is_dir():
            h.update(str(f.relative_to(root)).encode() + b"\0")
        with f.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def _layout(x: np.ndarray, what: str) -> tuple[np.ndarray, tuple[int, int, int]]:
    """Images as (N, C, H, W) and their shape (C, H, W)."""
    if x.ndim == 3:
        return x[:, None], (1, *x.shape[1:])
    if x.ndim != 4:
        raise DataError(
            f"{what}: expected images (N, H, W), (N, H, W, C) or (N, C, H, W), got {x.shape}"
        )
    first, last = x.shape[1] in CHANNELS, x.shape[3] in CHANNELS
    if first == last:
        raise DataError(
            f"{what}: cannot tell channels from {x.shape}: give (N, H, W, C) or (N, C, H, W) "
            f"with C in {CHANNELS} and images larger than 4 pixels a side"
        )
    out = x if first else x.transpose(0, 3, 1, 2)
    return out, tuple(int(s) for s in out.shape[1:])  # type: ignore[return-value]


def _pixels(x: np.ndarray, what: str) -> np.ndarray:
    if x.dtype == np.uint8:
        return x.astype(np.float32) / np.float32(255.0)
    if x.dtype.kind != "f":
        raise DataError(f"{what}: pixels must be uint8 0-255 or floats in [0, 1], got {x.dtype}")
    if np.isnan(x).any():
        raise DataError(f"{what}: holds NaN; remove or repair those images")
    lo, hi = float(x.min()), float(x.max())
    if lo < 0 or hi > 1:
        raise DataError(
            f"{what}: float pixels must lie in [0, 1], found [{lo:g}, {hi:g}]; divide by 255 "
            "or store uint8"
        )
    return x.astype(np.float32)


def _labels(y: np.ndarray, n: int, what: str) -> np.ndarray:
    if y.ndim != 1 or y.dtype.kind not in "iu":
        raise DataError(f"{what}: labels must be a 1-d integer array, got {y.dtype} {y.shape}")
    if len(y) != n:
        raise DataError(f"{what}: {n} images but {len(y)} labels; give one label per image")
    return y.astype(np.int64)


def from_arrays(
    name: str,
    checksum: str,
    x_test: Any,
    y_test: Any,
    x_train: Any = None,
    y_train: Any = None,
    num_classes: int | None = None,
) -> Dataset:
    """A checked Dataset from image arrays (numpy or torch); without a training split the
    data can be evaluated on, not trained on."""
    from lilbench.data.dataset import Dataset

    if (x_train is None) != (y_train is None):
        raise DataError(f"{name}: give x_train and y_train together, or neither")
    splits = {"test": (x_test, y_test)}
    if x_train is not None:
        splits["train"] = (x_train, y_train)
    xs, ys, shapes = {}, {}, set()
    for split, (x, y) in splits.items():
        x, y = np.asarray(_numpy(x)), np.asarray(_numpy(y))
        if len(x) == 0:
            raise DataError(f"{name}: the {split} split is empty; give at least one image")
        images, shape = _layout(x, f"{name} x_{split}")
        xs[split] = _pixels(images, f"{name} x_{split}").reshape(len(images), -1)
        ys[split] = _labels(y, len(images), f"{name} y_{split}")
        shapes.add(shape)
    if len(shapes) != 1:
        raise DataError(f"{name}: train and test images differ in shape ({sorted(shapes)})")
    labels = np.concatenate(list(ys.values()))
    classes = int(labels.max()) + 1 if num_classes is None else int(num_classes)
    if labels.min() < 0 or labels.max() >= classes:
        raise DataError(
            f"{name}: labels must lie in 0..{classes - 1}, found {labels.min()}..{labels.max()}"
        )
    if len(np.unique(labels)) < 2:
        raise DataError(f"{name}: every label is {labels[0]}; a classifier needs two classes")
    t = torch.from_numpy
    train = (t(xs["train"]), t(ys["train"])) if "train" in xs else _empty(xs["test"].shape[1])
    return Dataset(
        name,
        *train,
        t(xs["test"]),
        t(ys["test"]),
        num_classes=classes,
        checksum=checksum,
        pixels=True,
        shape=shapes.pop(),
    )


def _numpy(a: Any) -> Any:
    return a.detach().cpu().numpy() if hasattr(a, "detach") else a


def _empty(d: int) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.zeros(0, d), torch.zeros(0, dtype=torch.int64)


def array_checksum(*arrays: Any) -> str:
    """SHA-256 over arrays' dtypes, shapes and bytes (the identity of data held in memory)."""
    h = hashlib.sha256()
    for a in arrays:
        if a is None:
            h.update(b"none")
            continue
        arr = np.ascontiguousarray(_numpy(a))
        h.update(f"{arr.dtype.str}{arr.shape}".encode())
        h.update(arr.tobytes())
    return h.hexdigest()


NPZ_KEYS = ("x_test", "y_test", "x_train", "y_train", "num_classes")


def _read_npz(path: Path, name: str) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as z:
            unknown = sorted(set(z.files) - set(NPZ_KEYS))
            if unknown:
                raise DataError(f"{name}: unknown arrays {unknown}; an npz holds {NPZ_KEYS}")
            return {k: z[k] for k in z.files}
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            raise DataError(
                f"{name}: holds object arrays, which need pickle; lilbench does not unpickle "
                "data: save numeric arrays"
            ) from None
        raise DataError(f"{name}: not a readable npz ({exc})") from None
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        raise DataError(f"{name}: not a readable npz ({exc})") from None


def load_npz(path: Path, name: str, checksum: str) -> Dataset:
    arrays = _read_npz(path, name)
    for key in ("x_test", "y_test"):
        if key not in arrays:
            raise DataError(f"{name}: has no {key}; an npz holds x_test and y_test at least")
    classes = arrays.get("num_classes")
    if classes is not None and (classes.shape != () or classes.dtype.kind not in "iu"):
        raise DataError(f"{name}: num_classes must be one integer, got {classes!r}")
    return from_arrays(
        name,
        checksum,
        arrays["x_test"],
        arrays["y_test"],
        arrays.get("x_train"),
        arrays.get("y_train"),
        None if classes is None else int(classes),
    )


def _read_image(path: Path, name: str) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            mode = "L" if img.mode in GREY_MODES else "RGB"
            return np.asarray(img.convert(mode))
    except (UnidentifiedImageError, OSError) as exc:
        raise DataError(f"{name}: {path} is not a readable image ({exc})") from None


def _folder_split(root: Path, name: str, classes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    images, labels = [], []
    for k, c in enumerate(classes):
        for f in sorted((root / c).iterdir()):
            if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES:
                images.append(_read_image(f, name))
                labels.append(k)
    if len({im.shape for im in images}) > 1:
        sizes = sorted({im.shape for im in images})[:3]
        raise DataError(f"{name}: images differ in size ({sizes}); resize them to one size")
    return (np.stack(images) if images else np.zeros((0, 1, 1))), np.array(labels, np.int64)


def load_folder(path: Path, name: str, checksum: str) -> Dataset:
    """A folder of class folders (`cat/1.png`, `dog/2.png`), or one with `train/` and `test/`
    folders of class folders; classes are numbered in sorted order of their names."""
    splits = {s: path / s for s in ("train", "test") if (path / s).is_dir()}
    test_root = splits.get("test", path)
    classes = sorted(p.name for p in test_root.iterdir() if p.is_dir())
    if len(classes) < 2:
        raise DataError(
            f"{name}: found {len(classes)} class folder(s); give one subfolder per class, two "
            "at least"
        )
    if "train" in splits:
        train_classes = sorted(p.name for p in splits["train"].iterdir() if p.is_dir())
        if train_classes != classes:
            raise DataError(f"{name}: train/ and test/ name different classes")
    x_test, y_test = _folder_split(test_root, name, classes)
    x_train, y_train = (
        _folder_split(splits["train"], name, classes) if "train" in splits else (None, None)
    )
    return from_arrays(name, checksum, x_test, y_test, x_train, y_train, len(classes))


def load_user(name: str) -> Dataset:
    """The data set a `file:PATH` name points at, checked."""
    path = user_path(name)
    _check_size(path)
    checksum = content_sha256(path)
    if path.is_dir():
        return load_folder(path, name, checksum)
    return load_npz(path, name, checksum)


_IDENTITIES: dict[tuple[str, tuple[tuple[str, int, int], ...]], str] = {}


def identity(name: str) -> str:
    """What keys name a user's data by: its content (`file:sha256:HEX`), not its path; cached
    while no file under it changes size or time."""
    path = user_path(name)
    _check_size(path)
    sig = tuple((str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in _files(path))
    key = (str(path.resolve()), sig)
    if key not in _IDENTITIES:
        _IDENTITIES[key] = content_sha256(path)
    return PREFIX + "sha256:" + _IDENTITIES[key]
