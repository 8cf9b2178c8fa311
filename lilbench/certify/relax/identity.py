"""The identity (nn.Identity between linear layers): exact, both lines are z itself."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lilbench.certify.relax.base import Lines, Relaxation, register
from lilbench.lazy import lazy_module

if TYPE_CHECKING:
    import torch
else:
    torch = lazy_module("torch")


@register
class IdentityRelaxation(Relaxation):
    name = "identity"
    module = "Identity"

    def apply(self, z: torch.Tensor) -> torch.Tensor:
        return z

    def lines(self, lb: torch.Tensor, ub: torch.Tensor) -> Lines:
        one, zero = torch.ones_like(lb), torch.zeros_like(lb)
        return Lines(one, zero, one, zero)
