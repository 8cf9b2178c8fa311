"""Certificate methods, one file each, registered in `METHODS` (torch-free to import)."""

from __future__ import annotations

from lilbench.certify.methods.base import METHODS, Method, Problem
from lilbench.registry import import_submodules

import_submodules(__name__, skip=frozenset({"base"}))

__all__ = ["METHODS", "Method", "Problem", "default_methods", "method_names"]


def method_names() -> tuple[str, ...]:
    """Every method, loosest first."""
    return tuple(sorted(METHODS.names(), key=lambda n: METHODS.get(n).order))


def default_methods() -> tuple[str, ...]:
    return tuple(n for n in method_names() if METHODS.get(n).default)
