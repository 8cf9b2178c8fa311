"""lilbench's own arithmetic for ART's L-inf FGSM step and PGD from the clean input: the
same float32 operations in the same order as ART's, without its bookkeeping (a test checks
the outputs are bit-identical to ART's)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

if TYPE_CHECKING:
    from art.estimators.classification import PyTorchClassifier


def fgsm_apply(x: torch.Tensor, signs: torch.Tensor, eps: float) -> torch.Tensor:
    """ART's FGSM arithmetic: x + eps * sign, clip to [0, 1], project onto the eps ball."""
    adv = (x + torch.tensor(eps, dtype=torch.float32) * signs).clamp(0.0, 1.0)
    return x + (adv - x).clamp(-eps, eps)


def linf_pgd_clean_start(
    clf: PyTorchClassifier,
    x: np.ndarray,
    y: np.ndarray,
    *,
    eps: float,
    step: float,
    steps: int,
    batch_size: int,
    clean_signs: torch.Tensor | None = None,
) -> np.ndarray:
    """ART's L-inf PGD from the clean input (`LinfPGD`, num_random_init=0), step for step in
    ART's own arithmetic, less its bookkeeping.

    Per step and batch, as ART: the gradient of ART's loss (the classifier's cross-entropy,
    mean over the batch) from ART's `loss_gradient`, NaN set to 0, its sign times the float32
    step, clipped to [0, 1] (min, then max), the change from the clean input clamped to
    [-eps, eps] and added back. ART also copies every batch through a DataLoader, checks for
    NaN twice, builds a ones-tensor per step and predicts the whole set twice to log a success
    rate: about 60% of its time here. A test checks the output is bit-identical to ART's.

    `clean_signs` (from `fgsm_gradient_signs` with the same batch size: the same gradient,
    batch for batch) replace the first step's gradient, which every step size of a sweep
    shares: one gradient pass in `steps` saved.
    """
    n = len(x)
    out = np.empty_like(x, dtype=np.float32)
    device = clf.device
    model, loss_fn = clf.model, clf._loss  # what ART's loss_gradient evaluates
    model.eval()
    lo, hi = (float(np.float32(v)) for v in clf.clip_values)
    # sign is -1, 0 or 1, so step * sign is exact and adding it rounds once, as in ART.
    step32 = float(np.float32(step))
    for i in range(0, n, batch_size):
        x0 = torch.from_numpy(np.ascontiguousarray(x[i : i + batch_size], dtype=np.float32))
        x0 = x0.to(device)
        labels = torch.from_numpy(y[i : i + batch_size].astype(np.int64)).to(device)
        adv = x0.clone()
        for k in range(steps):
            if k == 0 and clean_signs is not None:
                signs = clean_signs[i : i + batch_size].to(device)
            else:
                xg = adv.detach().requires_grad_(True)
                (grad,) = torch.autograd.grad(loss_fn(model(xg), labels), xg)
                signs = grad.nan_to_num_(nan=0.0).sign_()
            adv = adv.add_(signs, alpha=step32).clamp_(lo, hi)
            adv = adv.sub_(x0).clamp_(-float(eps), float(eps)).add_(x0)
        out[i : i + batch_size] = adv.cpu().numpy()
    return out
