"""Test-only oracles that lilbench's own attacks are checked against: an independent pure-torch
L-inf FGSM and PGD (no ART; the same conventions as ART: mean cross-entropy over each batch
at the true labels, sign of the gradient, clip to [0, 1] after each step, then project onto
the eps ball around the input), and ART's Auto-PGD as ART runs it. Not part of lilbench:
`benchmarks/attack_bench.py` imports this file from here too."""

from __future__ import annotations

import numpy as np
import torch
from art.attacks.evasion import AutoProjectedGradientDescent
from art.estimators.classification import PyTorchClassifier
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


def art_apgd(
    clf: PyTorchClassifier,
    x: np.ndarray,
    y: np.ndarray,
    *,
    eps: float,
    loss: str,
    max_iter: int,
    restarts: int,
    batch_size: int,
    seed: int,
    norm: float = np.inf,
) -> np.ndarray:
    """ART's Auto-PGD (Croce & Hein 2020): loss "ce" (cross-entropy) or "dlr" (logit ratio);
    L-inf, or L2 with norm=2 (steps normalised and projected in L2)."""
    np.random.seed(seed)  # ART's random starts draw from numpy's global RNG
    attack = AutoProjectedGradientDescent(
        clf,
        norm=norm,
        eps=float(eps),
        eps_step=2.0 * float(eps),  # APGD's initial step, as in the paper; it adapts
        max_iter=max_iter,
        nb_random_init=restarts,
        batch_size=batch_size,
        loss_type={"ce": "cross_entropy", "dlr": "difference_logits_ratio"}[loss],
        verbose=False,
    )
    return attack.generate(x=x, y=y)
