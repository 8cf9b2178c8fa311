"""Activation relaxations, one file each (tanh, relu, identity), registered in
`RELAXATIONS`; `relaxation_for(layer)` finds a layer's."""

from __future__ import annotations

from lilbench.certify.relax.base import RELAXATIONS, Free, Lines, Relaxation, relaxation_for
from lilbench.registry import import_submodules

import_submodules(__name__, skip=frozenset({"base"}))

__all__ = ["RELAXATIONS", "Free", "Lines", "Relaxation", "relaxation_for"]
