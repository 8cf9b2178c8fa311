"""Auto-PGD (Croce & Hein 2020) through ART, with the CE or the DLR loss, on an eps grid."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from lilbench.attacks.base import ATTACKS, AttackContext, EpsGridAttack, Point
from lilbench.errors import ConfigError
from lilbench.lazy import lazy_module

if TYPE_CHECKING:
    import torch

    from lilbench.attacks import art_backend as art
else:
    torch = lazy_module("torch")
    art = lazy_module("lilbench.attacks.art_backend")


@ATTACKS.register("apgd")
@dataclass(frozen=True, kw_only=True)
class APGD(EpsGridAttack):
    """ART's Auto-PGD with cross-entropy ("ce") or difference-of-logits-ratio ("dlr") loss."""

    name: ClassVar[str] = "apgd"
    loss: str = "ce"
    max_iter: int = 100
    restarts: int = 1

    def validate(self) -> APGD:
        super().validate()
        if self.loss not in ("ce", "dlr"):
            raise ConfigError(f"unknown APGD loss {self.loss!r}; known: ce, dlr")
        if self.max_iter < 1 or self.restarts < 1:
            raise ConfigError("APGD needs max_iter >= 1 and restarts >= 1")
        return self

    @property
    def label(self) -> str:
        return f"apgd-{self.loss}"

    @property
    def uses_randomness(self) -> bool:
        return True

    def generate(self, ctx: AttackContext, point: Point, rows: slice) -> torch.Tensor:
        adv = art.art_apgd(
            ctx.clf,
            ctx.x[rows],
            ctx.y[rows],
            eps=point.eps,
            loss=self.loss,
            max_iter=self.max_iter,
            restarts=self.restarts,
            batch_size=self.batch_size,
            seed=ctx.seed,
        )
        return torch.from_numpy(np.ascontiguousarray(adv, dtype=np.float32))
