"""The paper's own attack, reproduced through ART for a side-by-side comparison.

The authors attack each model on its own training objective, CE + beta * L_iso, computed per
batch of 100 with the batch's labels, and their "PGD" takes every step along the gradient at
the clean input, so it ends at clip01(x + min(steps * step, eps) * sign(grad L(x))): a scaled
FGSM. ART's classifier only hands the loss the model's output, so the wrapped model outputs
[logits | phi | x] and the loss takes the three apart.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from lilbench.objectives.isometry import iso_loss

if TYPE_CHECKING:
    from art.estimators.classification import PyTorchClassifier


class ObjectiveOutputs(nn.Module):
    """Wraps an LIL model so one output row carries logits, phi and the input."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        phi = self.model.features(x)  # type: ignore[operator]
        logits = self.model(x)
        return torch.cat([logits, phi, x.flatten(1)], dim=1)


class PaperObjective(nn.Module):
    """CE(logits, y) + beta * L_iso(x, phi, y) on one batch (beta = 0: plain CE)."""

    def __init__(self, *, num_classes: int, phi_dim: int, beta: float, mode: str, k: float):
        super().__init__()
        self.num_classes, self.phi_dim = num_classes, phi_dim
        self.beta, self.mode, self.k = beta, mode, k

    def forward(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if y.ndim == 2:  # ART hands a custom loss one-hot labels
            y = y.argmax(1)
        c, p = self.num_classes, self.phi_dim
        logits, phi, x = out[:, :c], out[:, c : c + p], out[:, c + p :]
        loss = F.cross_entropy(logits, y)
        if self.beta == 0 or self.mode == "none":
            return loss
        return loss + self.beta * iso_loss(x, phi, y, mode=self.mode, k=self.k)


def make_objective_classifier(
    model: nn.Module,
    *,
    input_dim: int,
    num_classes: int,
    phi_dim: int,
    beta: float,
    mode: str,
    k: float,
    device: torch.device,
    outputs: nn.Module | None = None,
) -> PyTorchClassifier:
    """`outputs`: the ObjectiveOutputs of `model` to run, e.g. wrapped to count its passes
    (default: a plain one)."""
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    from lilbench.attacks.art_backend import SlicingClassifier  # ART: when the attack runs

    return SlicingClassifier(
        model=ObjectiveOutputs(model) if outputs is None else outputs,
        loss=PaperObjective(num_classes=num_classes, phi_dim=phi_dim, beta=beta, mode=mode, k=k),
        input_shape=(input_dim,),
        nb_classes=num_classes,
        clip_values=(0.0, 1.0),
        preprocessing=None,
        device=device,
    )


def authors_pgd_radius(*, eps: float, step: float, steps: int) -> float:
    """Where the authors' PGD ends: every step along the clean gradient, capped by the ball."""
    return min(steps * step, eps)
