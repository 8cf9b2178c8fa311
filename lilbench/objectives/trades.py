"""`trades`: Zhang et al. (2019), CE(f(x), y) + beta_trades * KL(f(x) || f(x')), with x' the
L-inf PGD maximiser of that KL started at x + 0.001 * N(0, 1)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field

from lilbench.lazy import lazy_module
from lilbench.objectives.adversarial import linf_pgd
from lilbench.objectives.base import OBJECTIVES, LossParts, Objective, Params

if TYPE_CHECKING:
    import torch
    import torch.nn.functional as F
    from torch import nn
else:
    torch = lazy_module("torch")
    F = lazy_module("torch.nn.functional")
    nn = lazy_module("torch.nn")


class TRADESParams(Params):
    beta_trades: float = Field(6.0, ge=0, description="Weight of the robustness (KL) term.")
    eps: float = Field(0.1, gt=0, le=1, description="L-inf radius of the inner maximisation.")
    steps: int = Field(7, ge=1, description="PGD steps of the inner maximisation.")
    step_size: float | None = Field(
        None, gt=0, le=1, description="PGD step size (default 2.5 * eps / steps)."
    )


def kl_to(clean_log_probs: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """KL(p_clean || p(logits)), mean over the batch."""
    return F.kl_div(
        F.log_softmax(logits, dim=1), clean_log_probs, reduction="batchmean", log_target=True
    )


@OBJECTIVES.register("trades")
class TRADES(Objective):
    name = "trades"
    params_type = TRADESParams
    label_keys = ("beta_trades",)
    params: TRADESParams

    def perturb(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        p = self.params
        with torch.no_grad():
            clean = F.log_softmax(model(x), dim=1)
        step = p.step_size if p.step_size is not None else 2.5 * p.eps / p.steps
        return linf_pgd(
            model,
            x,
            lambda logits: kl_to(clean, logits),
            eps=p.eps,
            steps=p.steps,
            step_size=step,
            start=x + 0.001 * torch.randn_like(x),
        )

    def loss(self, model: nn.Module, x: torch.Tensor, labels: torch.Tensor) -> LossParts:
        y = labels[:, -1]
        x_adv = self.perturb(model, x)
        logits = model(x)
        ce = F.cross_entropy(logits, y)
        kl = kl_to(F.log_softmax(logits, dim=1), model(x_adv))
        return {"total": ce + self.params.beta_trades * kl, "ce": ce, "kl": kl}
