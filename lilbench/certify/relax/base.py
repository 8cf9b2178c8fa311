"""What an activation's relaxation is (one class per activation, as auto_LiRPA's operators):
the activation itself, CROWN's fixed lines on an interval, and alpha-CROWN's free lines."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from lilbench.lazy import lazy_module
from lilbench.registry import Registry

if TYPE_CHECKING:
    import torch
    from torch import nn
else:
    torch = lazy_module("torch")


@dataclass(frozen=True)
class Lines:
    """a_lo z + b_lo <= act(z) <= a_up z + b_up, per neuron ([N, width]) or per margin row
    and neuron ([N, m, width])."""

    a_lo: torch.Tensor
    b_lo: torch.Tensor
    a_up: torch.Tensor
    b_up: torch.Tensor

    def __iter__(self) -> Iterator[torch.Tensor]:
        return iter((self.a_lo, self.b_lo, self.a_up, self.b_up))

    def rows(self) -> Lines:
        """Per-neuron lines as [N, 1, width], to broadcast over margin rows."""
        if self.a_lo.dim() == 3:
            return self
        return Lines(*(v[:, None, :] for v in (self.a_lo, self.b_lo, self.a_up, self.b_up)))

    def offset(self, pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
        """sum over neurons of pos * b_lo + neg * b_up: [N, m]."""
        if self.b_lo.dim() == 2:  # shared by the rows: two batched products, one pass each
            return (pos @ self.b_lo[:, :, None])[..., 0] + (neg @ self.b_up[:, :, None])[..., 0]
        return (pos * self.b_lo).sum(-1) + (neg * self.b_up).sum(-1)


@dataclass(frozen=True)
class Free:
    """alpha-CROWN's range of sound lines per neuron ([N, width] each): the lower line is
    free where `free_lo`, placed by t in [0, 1] between `lo_lo` and `lo_hi` (a tangent
    point, or ReLU's slope); likewise the upper; t_lo0 and t_up0 are CROWN's own choices,
    where the optimisation starts."""

    lo_lo: torch.Tensor
    lo_hi: torch.Tensor
    free_lo: torch.Tensor
    up_lo: torch.Tensor
    up_hi: torch.Tensor
    free_up: torch.Tensor
    t_lo0: torch.Tensor
    t_up0: torch.Tensor
    fixed: Lines  # CROWN's lines, where no line is free (computed once, not per step)

    @property
    def any(self) -> bool:
        return bool(self.free_lo.any() or self.free_up.any())


class Relaxation(ABC):
    name: ClassVar[str]
    module: ClassVar[str]  # the torch.nn class it relaxes, by name

    def matches(self, layer: nn.Module) -> bool:
        return type(layer).__name__ == self.module and type(layer).__module__.startswith("torch")

    @abstractmethod
    def apply(self, z: torch.Tensor) -> torch.Tensor:
        """The activation (monotone non-decreasing: IBP maps interval ends through it)."""

    @abstractmethod
    def lines(self, lb: torch.Tensor, ub: torch.Tensor) -> Lines:
        """CROWN's lines on [lb, ub], elementwise ([N, width])."""

    def free(self, lb: torch.Tensor, ub: torch.Tensor) -> Free:
        """alpha-CROWN's range (default: nothing free, CROWN's lines fixed)."""
        zero = torch.zeros_like(lb)
        none = torch.zeros_like(lb, dtype=torch.bool)
        return Free(zero, zero, none, zero, zero, none, zero, zero, self.lines(lb, ub))

    def lines_at(
        self, lb: torch.Tensor, ub: torch.Tensor, free: Free, t_lo: torch.Tensor, t_up: torch.Tensor
    ) -> Lines:
        """The lines with the free ones at t ([N, m, width], one set per margin row)."""
        fixed = free.fixed.rows()
        return Lines(
            fixed.a_lo.expand_as(t_lo),
            fixed.b_lo.expand_as(t_lo),
            fixed.a_up.expand_as(t_up),
            fixed.b_up.expand_as(t_up),
        )


RELAXATIONS: Registry[Relaxation] = Registry("activation")


def register(cls: type[Relaxation]) -> type[Relaxation]:
    RELAXATIONS.register(cls.name)(cls())
    return cls


def relaxation_for(layer: nn.Module) -> Relaxation | None:
    """The registered relaxation of an activation layer, or None (not an activation)."""
    for _, relax in RELAXATIONS.items():
        if relax.matches(layer):
            return relax
    return None
