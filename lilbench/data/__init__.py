"""Data sets by name: `load_dataset("mnist")`; later modules register more."""

from lilbench.data import mnist as _mnist  # noqa: F401  (registers "mnist")
from lilbench.data import toy as _toy  # noqa: F401  (registers "rings", "torus")
from lilbench.data.base import (
    DATA_DIR_ENV,
    Dataset,
    dataset_names,
    default_data_dir,
    load_dataset,
    register_dataset,
)

__all__ = [
    "DATA_DIR_ENV",
    "Dataset",
    "dataset_names",
    "default_data_dir",
    "load_dataset",
    "register_dataset",
]
