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

import importlib
import types
from typing import Any


class _LazyModule(types.ModuleType):
    def __getattr__(self, attr: str) -> Any:
        module = importlib.import_module(self.__name__)
        value = getattr(module, attr)
        setattr(self, attr, value)  # later reads skip __getattr__
        return value


def lazy_module(name: str) -> Any:
    return _LazyModule(name)
