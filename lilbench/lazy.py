"""Modules imported on first use, so that `lilbench <cmd> --help` need not load torch or ART.

    if TYPE_CHECKING:
        import torch
    else:
        torch = lazy_module("torch")

mypy sees the real module; at run time the name is a stand-in that imports the module the
first time one of its attributes is read. Only function bodies may touch it: a class body or
decorator that reads it at import time would load the module there and then.
"""

from __future__ import annotations

import functools
import importlib
import types
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar


class _LazyModule(types.ModuleType):
    def __getattr__(self, attr: str) -> Any:
        # Not cached here: a value patched on the real module (tests do) is always seen.
        return getattr(importlib.import_module(self.__name__), attr)


def lazy_module(name: str) -> Any:
    return _LazyModule(name)


P = ParamSpec("P")
R = TypeVar("R")


def no_grad(fn: Callable[P, R]) -> Callable[P, R]:
    """`@torch.no_grad()` without importing torch when the decorated function is defined."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        import torch

        with torch.no_grad():
            return fn(*args, **kwargs)

    return wrapper
