"""Common corruptions by set: each module here registers one set (`register_set`) on import."""

from lilbench.data.corruptions.base import (
    CORRUPTION_SETS,
    DEFAULT_SET,
    Corruption,
    CorruptionSet,
    corrupt,
    register_set,
    set_for,
)
from lilbench.registry import import_submodules

import_submodules(__name__, skip=frozenset({"base", "ops"}))

__all__ = [
    "CORRUPTION_SETS",
    "DEFAULT_SET",
    "Corruption",
    "CorruptionSet",
    "corrupt",
    "register_set",
    "set_for",
]
