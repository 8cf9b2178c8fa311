"""`pgd-at`: Madry et al. (2018) adversarial training, CE on L-inf PGD examples."""

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


class PGDATParams(Params):
    eps: float = Field(0.1, gt=0, le=1, description="L-inf radius of the training attack.")
    steps: int = Field(7, ge=1, description="PGD steps per training batch.")
    step_size: float | None = Field(
        None, gt=0, le=1, description="PGD step size (default 2.5 * eps / steps)."
    )
    random_start: bool = Field(True, description="Start PGD at a uniform point of the ball.")


@OBJECTIVES.register("pgd-at")
class PGDAT(Objective):
    name = "pgd-at"
    params_type = PGDATParams
    label_keys = ("eps",)
    params: PGDATParams

    def perturb(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        p = self.params
        step = p.step_size if p.step_size is not None else 2.5 * p.eps / p.steps
        start = x + torch.empty_like(x).uniform_(-p.eps, p.eps) if p.random_start else x
        return linf_pgd(
            model,
            x,
            lambda logits: F.cross_entropy(logits, y),
            eps=p.eps,
            steps=p.steps,
            step_size=step,
            start=start,
        )

    def loss(self, model: nn.Module, x: torch.Tensor, labels: torch.Tensor) -> LossParts:
        y = labels[:, -1]
        adv_ce = F.cross_entropy(model(self.perturb(model, x, y)), y)
        return {"total": adv_ce, "adv_ce": adv_ce}
