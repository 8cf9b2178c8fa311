"""ReLU: CROWN's lines (Zhang et al. 2018); alpha-CROWN frees the lower line's slope."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lilbench.certify.relax.base import Free, Lines, Relaxation, register
from lilbench.lazy import lazy_module

if TYPE_CHECKING:
    import torch
else:
    torch = lazy_module("torch")


@register
class ReluRelaxation(Relaxation):
    name = "relu"
    module = "ReLU"

    def apply(self, z: torch.Tensor) -> torch.Tensor:
        return torch.relu(z)

    def lines(self, lb: torch.Tensor, ub: torch.Tensor) -> Lines:
        dead, active = ub <= 0, lb >= 0
        zero, one = torch.zeros_like(lb), torch.ones_like(lb)
        chord = ub / (ub - lb).clamp_min(1e-300)  # used only where lb < 0 < ub
        a_up = torch.where(dead, zero, torch.where(active, one, chord))
        b_up = torch.where(dead | active, zero, -chord * lb)
        # the lower line through the origin: slope 1 where the positive side is larger
        a_lo = torch.where(dead, zero, torch.where(active, one, (ub > -lb).double()))
        return Lines(a_lo, zero, a_up, b_up)

    def free(self, lb: torch.Tensor, ub: torch.Tensor) -> Free:
        # any lower slope in [0, 1] through the origin is sound where the interval crosses 0
        zero = torch.zeros_like(lb)
        crossing = (lb < 0) & (ub > 0) & ((ub - lb) >= 1e-12)
        start = (ub > -lb).double()
        fixed = self.lines(lb, ub)
        return Free(zero, zero + 1, crossing, zero, zero, crossing & False, start, zero, fixed)

    def lines_at(
        self, lb: torch.Tensor, ub: torch.Tensor, free: Free, t_lo: torch.Tensor, t_up: torch.Tensor
    ) -> Lines:
        fixed = free.fixed.rows()
        a_lo = torch.where(free.free_lo[:, None, :], t_lo, fixed.a_lo)
        return Lines(a_lo, fixed.b_lo.expand_as(t_lo), fixed.a_up.expand_as(t_up), fixed.b_up)
