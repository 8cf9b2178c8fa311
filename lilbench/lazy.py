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
    # Every attribute read goes to the real module (imported on the first one): no failed
    # lookup and error message per read (the cost of a module __getattr__, ~5 us, in training
    # loops), and nothing copied, so a value patched on the real module (tests do) is seen.
    def __getattribute__(self, attr: str) -> Any:
        own = object.__getattribute__(self, "__dict__")
        module = own.get("_lazy_target")
        if module is None:
            module = importlib.import_module(own["_lazy_name"])
            own["_lazy_target"] = module
        return getattr(module, attr)


def lazy_module(name: str) -> Any:
    proxy = _LazyModule(name)
    object.__getattribute__(proxy, "__dict__")["_lazy_name"] = name
    return proxy


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
