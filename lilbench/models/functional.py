"""Two questions every layer asks of a classifier: its input gradient and its correct count."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def input_gradient(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, reduction: str = "mean"
) -> torch.Tensor:
    """d CE(model(x), y) / d x. "mean" over the batch is what ART's classifier differentiates;
    "sum" gives every sample its own gradient, unscaled by the batch size."""
    x = x.detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(F.cross_entropy(model(x), y, reduction=reduction), x)
    return grad


@torch.no_grad()
def correct_mask(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int = 5000
) -> np.ndarray:
    """Per input: is the argmax prediction the label (in batches, no gradients)."""
    with torch.no_grad():
        parts = [
            (model(x[i : i + batch]).argmax(1) == y[i : i + batch]).cpu().numpy()
            for i in range(0, len(x), batch)
        ]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=bool)


def count_correct(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int = 5000) -> int:
    """How many argmax predictions equal the labels, in batches (no gradients)."""
    return sum(
        int((model(x[i : i + batch]).argmax(1) == y[i : i + batch]).sum())
        for i in range(0, len(x), batch)
    )
