"""Data sets by name: `load_dataset("mnist")`; every module here registers its own on import."""

from lilbench.data.base import (
    DATA_DIR_ENV,
    DATASETS,
    Dataset,
    dataset_names,
    declared_shape,
    default_data_dir,
    known_dataset,
    load_dataset,
    register_dataset,
)
from lilbench.registry import import_submodules

import_submodules(__name__)

__all__ = [
    "DATASETS",
    "DATA_DIR_ENV",
    "Dataset",
    "dataset_names",
    "declared_shape",
    "default_data_dir",
    "known_dataset",
    "load_dataset",
    "register_dataset",
]
