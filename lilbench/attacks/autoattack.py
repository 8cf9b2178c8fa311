"""ART's AutoAttack ensemble (APGD-CE, APGD-DLR, Square): per image, the first member that
succeeds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from lilbench.attacks.base import ATTACKS, AttackContext, EpsGridAttack, Point
from lilbench.lazy import lazy_module

if TYPE_CHECKING:
    import torch

    from lilbench.attacks import art_backend as art
else:
    torch = lazy_module("torch")
    art = lazy_module("lilbench.attacks.art_backend")


@ATTACKS.register("autoattack")
@dataclass(frozen=True, kw_only=True)
class AutoAttackSpec(EpsGridAttack):
    """ART's AutoAttack ensemble (APGD-CE, APGD-DLR, Square): worst case per example."""

    name: ClassVar[str] = "autoattack"

    @property
    def uses_randomness(self) -> bool:
        return True

    def generate(self, ctx: AttackContext, point: Point, rows: slice) -> torch.Tensor:
        adv = art.art_autoattack(
            ctx.image_classifier(self.name),
            ctx.x[rows],
            ctx.y[rows],
            eps=point.eps,
            batch_size=self.batch_size,
            seed=ctx.seed,
        )
        return torch.from_numpy(adv)
