"""Independent pure-torch L-inf FGSM and PGD (no ART), used to cross-check ART's results.

Same conventions as ART: mean cross-entropy over each batch at the true labels, sign of the
gradient, clip to [0, 1] after each step, then project onto the eps ball around the input.
"""

from __future__ import annotations

import torch
from torch import nn

from lilbench.models.functional import count_correct, input_gradient


def _batches(n: int, batch_size: int) -> range:
    return range(0, n, batch_size)


def fgsm(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, *, batch_size: int = 1000
) -> torch.Tensor:
    out = torch.empty_like(x)
    for i in _batches(len(x), batch_size):
        xb, yb = x[i : i + batch_size], y[i : i + batch_size]
        step = torch.tensor(eps, dtype=torch.float32) * input_gradient(model, xb, yb).sign()
        out[i : i + batch_size] = (xb + step).clamp(0.0, 1.0)
    return out


def pgd(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    eps: float,
    step: float,
    steps: int,
    batch_size: int = 1000,
) -> torch.Tensor:
    """PGD from the clean point (no random start), as in the paper's setting."""
    out = torch.empty_like(x)
    alpha = torch.tensor(step, dtype=torch.float32)
    for i in _batches(len(x), batch_size):
        x0, yb = x[i : i + batch_size], y[i : i + batch_size]
        adv = x0.clone()
        for _ in range(steps):
            adv = (adv + alpha * input_gradient(model, adv, yb).sign()).clamp(0.0, 1.0)
            adv = x0 + (adv - x0).clamp(-eps, eps)
        out[i : i + batch_size] = adv
    return out


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 5000) -> float:
    return count_correct(model, x, y, batch_size) / len(x)
