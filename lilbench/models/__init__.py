"""Models: the family declarations (torch-free, `lilbench.models.families`) and the torch
modules they build, which are imported on first use of one of their names, so that the
option choices (all that `lilbench train --help` needs) load without torch."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from lilbench.models.names import ACTIVATION_NAMES, CONV_NAMES, DTYPE_NAMES, HEADS, INIT_NAMES

if TYPE_CHECKING:
    from lilbench.models.conv import ConvLIL
    from lilbench.models.lil import ACTIVATIONS, LILMLP, ModelSpec
    from lilbench.models.stacked import StackedLIL, StackedSpec

_HOME = {
    "ConvLIL": "conv",
    "ACTIVATIONS": "lil",
    "LILMLP": "lil",
    "ModelSpec": "lil",
    "StackedLIL": "stacked",
    "StackedSpec": "stacked",
}


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)


__all__ = [
    "ACTIVATIONS",
    "ACTIVATION_NAMES",
    "CONV_NAMES",
    "DTYPE_NAMES",
    "HEADS",
    "INIT_NAMES",
    "LILMLP",
    "ConvLIL",
    "ModelSpec",
    "StackedLIL",
    "StackedSpec",
]
