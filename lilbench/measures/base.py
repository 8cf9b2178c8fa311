"""A measure: one kind of value computed from a model's weights, keyed by its settings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lilbench.registry import Registry

if TYPE_CHECKING:
    from torch import nn

    from lilbench.data import Dataset


@dataclass(frozen=True)
class Measure:
    """`compute(model, data)` -> named JSON values; `params`: what its record is keyed by
    (changing them computes a new record, never serves the old one)."""

    kind: str
    compute: Callable[[nn.Module, Dataset], dict[str, Any]]
    params: dict[str, Any] = field(default_factory=dict)


MEASURES: Registry[Measure] = Registry("measure")


def register(measure: Measure) -> Measure:
    return MEASURES.register(measure.kind)(measure)
