"""`gaussian-aug`: Gaussian data augmentation (Cohen, Rosenfeld & Kolter 2019), the defence
built for noise and the base classifier of randomized smoothing: every training batch gets
fresh N(0, sigma^2) noise, not clipped to [0, 1] (as Cohen et al. train), and the loss is
cross-entropy on the noisy images. With `beta` > 0, LIL's isometry term is added on the same
noisy batch (a LIL + noise setting: within-class distances of phi made equal to those of
the noisy inputs).

The noise is drawn from torch's global generator, which training seeds per model, so the
same seed trains the same weights.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field

from lilbench.lazy import lazy_module
from lilbench.objectives.base import OBJECTIVES, LossParts, Objective, Params
from lilbench.objectives.isometry import lil_loss

if TYPE_CHECKING:
    import torch
    from torch import nn
else:
    torch = lazy_module("torch")
    nn = lazy_module("torch.nn")


class GaussianAugParams(Params):
    sigma: float = Field(0.25, gt=0, le=10, description="Noise standard deviation (pixels).")
    beta: float = Field(
        0.0, ge=0, description="Weight of LIL's isometry term on the noisy batch (0: none)."
    )
    k: float = Field(1.0, gt=0, description="Scale K on the hidden distances (with beta).")


@OBJECTIVES.register("gaussian-aug")
class GaussianAug(Objective):
    name = "gaussian-aug"
    params_type = GaussianAugParams
    label_keys = ("sigma",)
    params: GaussianAugParams

    def loss(self, model: nn.Module, x: torch.Tensor, labels: torch.Tensor) -> LossParts:
        p = self.params
        noisy = x + p.sigma * torch.randn_like(x)
        out = model.levels(noisy)[-1]  # type: ignore[operator]
        q = lil_loss(out.logits, out.phi, noisy, labels[:, -1], beta=p.beta, mode="local", k=p.k)
        return {"total": q.total, "ce": q.ce, "iso": q.iso}

    def noise_baseline(self) -> bool:
        return self.params.beta == 0  # with LIL's term it is a LIL + noise setting

    def label(self) -> str:
        # the LIL term shows only where it is on, so "gaussian-aug sigma=0.25" is noise alone
        beta = self.params.beta
        return super().label() + (f" beta={beta:g}" if beta else "")

    def attack_objective(self) -> dict[str, float | str]:
        beta = self.params.beta
        return {"beta": beta, "mode": "local" if beta else "none", "k": self.params.k}
