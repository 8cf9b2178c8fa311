"""Model families by name. The torch modules are imported on first use of one of their names,
so the option choices below (all that `lilbench train --help` needs) load without torch."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

ACTIVATION_NAMES: tuple[str, ...] = ("tanh", "relu")
HEADS: tuple[str, ...] = ("per-level", "shared")  # stacked models: one head per level, or one
CONV_NAMES: tuple[str, ...] = ("small", "authors")  # conv presets (torch-free, for the options)
DTYPE_NAMES: tuple[str, ...] = ("float32", "float64")  # an MLP's parameter dtype
INIT_NAMES: tuple[str, ...] = ("default", "orthogonal")  # an MLP's hidden-layer initialisation

if TYPE_CHECKING:
    from lilbench.models.conv import CONV_PRESETS, ConvLIL
    from lilbench.models.lil import ACTIVATIONS, LILMLP, ModelSpec
    from lilbench.models.registry import MODELS, ModelFamily
    from lilbench.models.stacked import StackedLIL, StackedSpec

_HOME = {
    "CONV_PRESETS": "conv",
    "ConvLIL": "conv",
    "ACTIVATIONS": "lil",
    "LILMLP": "lil",
    "ModelSpec": "lil",
    "MODELS": "registry",
    "ModelFamily": "registry",
    "StackedLIL": "stacked",
    "StackedSpec": "stacked",
}


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    for family in ("lil", "stacked", "conv"):  # every family registered before MODELS is read
        importlib.import_module(f"{__name__}.{family}")
    return getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)


__all__ = [
    "ACTIVATIONS",
    "ACTIVATION_NAMES",
    "CONV_NAMES",
    "CONV_PRESETS",
    "DTYPE_NAMES",
    "HEADS",
    "INIT_NAMES",
    "LILMLP",
    "MODELS",
    "ConvLIL",
    "ModelFamily",
    "ModelSpec",
    "StackedLIL",
    "StackedSpec",
]
