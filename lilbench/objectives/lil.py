"""`lil`: the paper's objective alpha * CE + beta * L_iso (beta = 0: plain cross-entropy).

For stacked models the loss is summed over levels, each with its own labels and partition.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

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


class LILParams(Params):
    beta: float = Field(0.0, ge=0, description="Weight of the isometry loss (0 = plain CE).")
    alpha: float = Field(1.0, ge=0, description="Weight of the cross-entropy loss.")
    mode: Literal["local", "global", "none"] = Field(
        "local", description="Isometry within classes (local), over all pairs, or none."
    )
    k: float = Field(1.0, gt=0, description="Scale K on the hidden distances.")
    metric: Literal["euclidean"] = Field("euclidean", description="Pairwise distance.")


@OBJECTIVES.register("lil")
class LIL(Objective):
    name = "lil"
    params_type = LILParams
    label_keys = ("beta",)
    params: LILParams

    def loss(self, model: nn.Module, x: torch.Tensor, labels: torch.Tensor) -> LossParts:
        p = self.params
        kw = dict(alpha=p.alpha, beta=p.beta, mode=p.mode, k=p.k, metric=p.metric)
        outs = model.levels(x)  # type: ignore[operator]
        if len(outs) > 1:  # a stacked model: one loss per label level
            parts = [
                lil_loss(o.logits, o.phi, o.inputs, labels[:, i], **kw)  # type: ignore[arg-type]
                for i, o in enumerate(outs)
            ]
            return {
                "total": torch.stack([q.total for q in parts]).sum(),
                "ce": torch.stack([q.ce for q in parts]).sum(),
                "iso": torch.stack([q.iso for q in parts]).sum(),
            }
        q = lil_loss(outs[0].logits, outs[0].phi, x, labels[:, -1], **kw)  # type: ignore[arg-type]
        return {"total": q.total, "ce": q.ce, "iso": q.iso}

    def label(self) -> str:
        # K is shown only where it is not the paper's 1, so earlier labels stay the same.
        k = self.params.k
        return super().label() + (f" k={k:g}" if k != 1.0 else "")

    def attack_objective(self) -> dict[str, float | str]:
        mode = "none" if self.params.beta == 0 else self.params.mode
        return {"beta": self.params.beta, "mode": mode, "k": self.params.k}
