"""Torch-free names of the built-in families' choices, shared by their declarations (the
options' choices) and their torch modules (which map each name to a module or dtype)."""

from __future__ import annotations

ACTIVATION_NAMES: tuple[str, ...] = ("tanh", "relu")
HEADS: tuple[str, ...] = ("per-level", "shared")  # stacked models: one head per level, or one
CONV_NAMES: tuple[str, ...] = ("small", "authors")  # conv presets
DTYPE_NAMES: tuple[str, ...] = ("float32", "float64")  # an MLP's parameter dtype
INIT_NAMES: tuple[str, ...] = ("default", "orthogonal")  # an MLP's hidden-layer initialisation
