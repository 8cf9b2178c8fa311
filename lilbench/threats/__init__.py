"""Threat models as objects: one file per norm (linf, l2, l1), registered in `THREATS`.

`threat(value)` accepts a registry name ("linf", "l2", "l1") or the `norm` value records,
suites and the CLI use ("inf", "2", "1"; 2 and 2.0 too).
"""

from __future__ import annotations

from typing import Any

from lilbench.errors import ConfigError
from lilbench.registry import import_submodules
from lilbench.threats.base import THREATS, ThreatModel

import_submodules(__name__, skip=frozenset({"base"}))

__all__ = ["THREATS", "ThreatModel", "keys", "threat"]


def keys() -> tuple[str, ...]:
    """The `norm` values, L-inf first (the default)."""
    found = [t for _, t in THREATS.items()]
    return tuple(t.key for t in sorted(found, key=lambda t: t.order))


def threat(value: Any) -> ThreatModel:
    """The threat model a norm value or name means; one line naming the known ones if none."""
    if isinstance(value, ThreatModel):
        return value
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # `norm: 2.0` is `norm: 2`
    text = str(value).strip().lower()
    for _, t in THREATS.items():
        if text in (t.key, t.name):
            return t
    raise ConfigError(f"unknown norm {value!r}; known: {', '.join(keys())}")
