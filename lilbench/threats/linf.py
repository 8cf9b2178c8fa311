"""L-inf: every pixel moves at most eps. The norm of the paper and of every record written
before norms were objects (its labels carry no suffix)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from lilbench.lazy import lazy_module
from lilbench.threats.base import ThreatModel, register

if TYPE_CHECKING:
    import torch
else:
    torch = lazy_module("torch")


@register
class Linf(ThreatModel):
    name = "linf"
    order = 0
    key = "inf"
    p = math.inf
    dual_p = 1.0
    label = "L-inf"
    prose_name = "L-inf"
    suffix = ""
    in_art = True
    size_field = "max_linf"
    eps_unit = "pixels in [0, 1]"
    max_eps = 1.0
    verdict_eps = 0.1  # a common MNIST L-inf budget
    default_attack_eps = (0.01, 0.03, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3)
    default_certify_eps = (0.001, 0.003, 0.01, 0.03)

    @property
    def box_is_exact(self) -> bool:
        return True

    def project(
        self, delta: torch.Tensor, x: torch.Tensor, eps: float, lo: float = 0.0, hi: float = 1.0
    ) -> torch.Tensor:
        # the ball is a box too: the intersection of two boxes is clamping to both
        return (x + delta.clamp(-eps, eps)).clamp(lo, hi) - x

    def ascent(self, grad: torch.Tensor) -> torch.Tensor:
        return grad.sign()

    def random_start(
        self, x: torch.Tensor, eps: float, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        u = torch.rand(x.shape, generator=generator, dtype=x.dtype, device=x.device)
        return (x + (2 * u - 1) * eps).clamp(0.0, 1.0)

    def sample_ball(
        self, shape: tuple[int, ...], eps: float, rng: np.random.Generator
    ) -> np.ndarray:
        return rng.uniform(-eps, eps, shape)
