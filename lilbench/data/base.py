"""The dataset type and the name -> loader registry that later data sets extend."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import platformdirs

from lilbench.data import user_files
from lilbench.data.dataset import Dataset
from lilbench.errors import ConfigError, DataError
from lilbench.io import symlink_loop
from lilbench.lazy import lazy_module
from lilbench.registry import Registry

if TYPE_CHECKING:
    import torch
else:
    torch = lazy_module("torch")

DATA_DIR_ENV = "LILBENCH_DATA_DIR"


Loader = Callable[[Path, int], Dataset]
"""A loader takes the data directory and a seed (used by generated data sets)."""

DATASETS: Registry[Loader] = Registry("dataset")

Log = Callable[[str], None]
Preparer = Callable[[Path, Log], Path]
"""Fetches (when online) and verifies a data set's files under the data directory; returns
the directory that holds them. Data sets generated on demand have none."""

PREPARERS: Registry[Preparer] = Registry("data set to prepare")


P = TypeVar("P", bound=Preparer)


def register_preparer(name: str) -> Callable[[P], P]:
    def add(func: P) -> P:
        PREPARERS.register(name)(func)
        return func  # its own signature (with the default log) kept for direct callers

    return add


# One input of each data set as an image, (channels, height, width), declared where the data
# set registers (torch-free: suites check corruptions against it without loading data);
# absent: not images.
IMAGE_SHAPES: dict[str, tuple[int, int, int]] = {}


def register_dataset(
    name: str, *, image_shape: tuple[int, int, int] | None = None
) -> Callable[[Loader], Loader]:
    if image_shape is not None:
        IMAGE_SHAPES[name] = image_shape
    return DATASETS.register(name)


def declared_shape(name: str) -> tuple[int, int, int] | None:
    """A data set's image shape (C, H, W), or None: not images, or unknown. A user's file is
    read (and checked) to tell."""
    if user_files.is_user_data(name):
        shape = load_dataset(name).image_shape
        return (int(shape[0]), int(shape[1]), int(shape[2])) if len(shape) == 3 else None
    return IMAGE_SHAPES.get(name)


def known_dataset(name: str) -> None:
    """Refuse an unknown data set name, or a user's data that is missing or fails a check."""
    if user_files.is_user_data(name):
        load_dataset(name)  # read and checked once (then held): bad data stops here
    elif name not in DATASETS:
        raise ConfigError(DATASETS.unknown(name))


def dataset_names() -> list[str]:
    return DATASETS.names()


def default_data_dir() -> Path:
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_cache_dir("lilbench"))


def checked_data_dir(root: Path) -> Path:
    """`root`, once no symbolic link on it or under it loops back into itself."""
    loop = symlink_loop(root, below=True)
    if loop is not None:
        raise DataError(
            f"{loop} is a symbolic link that points back into itself; remove it, or give "
            "another --data-dir"
        )
    return root


def load_dataset(name: str, *, data_dir: Path | None = None, seed: int = 0) -> Dataset:
    """The named data set, loaded and verified once per process and then shared, until a file
    under the data directory changes (a suite's items each ask for it: 0.7 s a load)."""
    if user_files.is_user_data(name):  # a user's file: keyed by its own files, not the cache's
        path = user_files.user_path(name)
        key: tuple[object, ...] = (name, _files_signature(path) if path.is_dir() else _stat(path))
        if key not in _LOADED:
            _LOADED.clear()
            _LOADED[key] = user_files.load_user(name)
        return _LOADED[key]
    root = checked_data_dir(Path(data_dir or default_data_dir()))
    key = (name, str(root.resolve()), seed, _files_signature(root))
    if key not in _LOADED:
        _LOADED.clear()  # one data set held at a time: they can be large
        _LOADED[key] = DATASETS.get(name)(root, seed)
    return _LOADED[key]


def _stat(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns)


_LOADED: dict[tuple[object, ...], Dataset] = {}


def _files_signature(root: Path) -> tuple[tuple[str, int, int], ...]:
    """(path, size, mtime) of every file under root: a changed file means load again."""
    out = []
    for folder, _, files in os.walk(root):
        for f in files:
            try:
                st = os.stat(os.path.join(folder, f))
            except OSError:
                continue
            out.append((os.path.join(folder, f), st.st_size, st.st_mtime_ns))
    return tuple(sorted(out))
