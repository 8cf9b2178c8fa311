"""The indicators of attack failure (Pintor et al. 2022), per image, for one attack run.

From the run's own iterates (lilbench's APGD kernels in every form, AutoAttack's APGD members;
`kernels.common.Trace`):
- silent success: some iterate was misclassified and the returned point is not;
- incomplete optimisation: the running-best loss, scaled to [0, 1], still moves by more than
  0.05 over its last 10 steps (on images the attack failed on);
- unavailable gradients: the loss gradient at the first iterate is zero or not finite in
every optimisation run on the image (no loss gave a usable gradient);
- beside them AutoAttack's own flag, zero DLR gradient: zero in some DLR run (ART's targeted
DLR, which lilbench's APGD-T follows, is constant where the target is the third-largest
logit) (all four on images the attack failed on).
For every attack:
- transfer failure: the examples judged adversarial by the path the attack ran on (ART's
  float32 predictions) and not by the model's own forward pass, which is the one judged;
- unstable predictions: the mean over 100 uniform draws in the L-inf ball of radius 1/255
  (clipped to [0, 1]) of |L(x) - L(x + d)| / |L(x)| (L the cross-entropy; 1 where L(x) = 0),
  flagged above UNSTABLE_THRESHOLD, on the first UNSTABLE_IMAGES images (on all
  10,000 it cost ten times the FGSM it checks). It does not depend on the attack, only on
  the model and the images; a sample of 1,000 in which no image is flagged bounds the share
  of unstable images below 0.3% (the rule of three, 95%), which is what the report's
  "no model hides its gradients" rests on;
- unconstrained attack failure: the share of correctly classified images the attack leaves
  unbroken when its ball covers the whole [0, 1] cube; it must be 0.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lilbench.attacks.checks import pack_mask
from lilbench.attacks.kernels.common import Trace
from lilbench.models.identity import module_identity

UNSTABLE_DRAWS = 100
UNSTABLE_RADIUS = 1 / 255  # half-width of the uniform noise (a quarter of Pintor et al.'s)
UNSTABLE_THRESHOLD = 0.5  # a mean relative loss change above this flags the image
UNSTABLE_IMAGES = 1000  # the first images of the run it is measured on (stated in the record)
NAMES = (
    "unavailable-gradients",
    "unstable-predictions",
    "silent-success",
    "incomplete-optimisation",
    "transfer-failure",
    "unconstrained-failure",
)


def point_indicators(
    trace: Trace | None,
    *,
    robust: np.ndarray,
    clean: np.ndarray,
    attack_adversarial: np.ndarray,
    model_correct: np.ndarray,
) -> dict[str, str]:
    """Per image bits (hex) of one point: `robust` the rule's mask at the returned points,
    `attack_adversarial` the attack path's verdict (misclassified), `model_correct` the
    model's own forward pass on the same points. The trace's indicators are kept where the
    attack failed (the image robust at its returned point): they say why it may have."""
    out = {"transfer-failure": pack_mask(attack_adversarial & model_correct & clean)}
    if trace is not None:
        out["silent-success"] = pack_mask(trace.adversarial & robust)
        out["incomplete-optimisation"] = pack_mask(trace.incomplete & robust)
        out["unavailable-gradients"] = pack_mask(trace.unavailable & robust)
        out["zero-dlr-gradient"] = pack_mask(trace.zero_dlr & robust)
    return out


# Unstable predictions depend on the model, the images and the seed only, not on the attack:
# a model's FGSM and PGD records (one worker runs them one after the other) share one
# computation. Keyed by the content of all three, so a hit is the same numbers by
# construction; a handful of entries, each one float per probed image.
_UNSTABLE_MEMO: OrderedDict[str, np.ndarray] = OrderedDict()
_UNSTABLE_MEMO_SIZE = 8


def _content_key(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *parts: object) -> str:
    # the module's whole identity (its structure, classes and their source, mode and tensors):
    # two wrappers of one model with the same tensors (a noisy one, a rounding one) differ
    h = hashlib.sha256(repr((module_identity(model), *parts)).encode())
    h.update(x.detach().cpu().contiguous().numpy().tobytes())
    h.update(y.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def shared_unstable_predictions(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, seed: int
) -> np.ndarray:
    """`unstable_predictions`, computed once per (weights, images, labels, seed) in this
    process and reused by the next attack run on the same model."""
    key = _content_key(model, x, y, seed, UNSTABLE_DRAWS, UNSTABLE_RADIUS)
    found = _UNSTABLE_MEMO.get(key)
    if found is None:
        found = unstable_predictions(model, x, y, seed=seed)
        _UNSTABLE_MEMO[key] = found
        while len(_UNSTABLE_MEMO) > _UNSTABLE_MEMO_SIZE:
            _UNSTABLE_MEMO.popitem(last=False)
    _UNSTABLE_MEMO.move_to_end(key)
    return found.copy()


@torch.no_grad()
def unstable_predictions(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    seed: int,
    draws: int = UNSTABLE_DRAWS,
    radius: float = UNSTABLE_RADIUS,
    batch: int = 4096,
) -> np.ndarray:
    """Per image: the mean relative change of the cross-entropy under `draws` uniform draws
    in the L-inf ball of `radius` (seeded; the noisy inputs clipped to [0, 1])."""
    gen = torch.Generator(device="cpu").manual_seed(seed)
    total = torch.zeros(len(x), dtype=torch.float64)
    for lo in range(0, len(x), batch):
        xb, yb = x[lo : lo + batch], y[lo : lo + batch]
        ref = F.cross_entropy(model(xb), yb, reduction="none").double().cpu()
        scale = torch.where(ref.abs() > 0, ref.abs(), torch.ones_like(ref))
        for _ in range(draws):
            noise = (torch.rand(xb.shape, generator=gen) * 2 - 1) * radius
            noisy = (xb + noise.to(xb.device, xb.dtype)).clamp(0.0, 1.0)
            loss = F.cross_entropy(model(noisy), yb, reduction="none").double().cpu()
            total[lo : lo + batch] += (loss - ref).abs() / scale
    return (total / draws).numpy()
