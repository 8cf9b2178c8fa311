"""AutoAttack: per image, the first member that succeeds.

version "standard" (the default): AutoAttack's standard L-inf members as far as ART has them:
APGD-CE, APGD-T over the 9 most likely wrong classes, Square with 5,000 queries (ART has no
FAB, so no FAB-T). version "art": ART's own ensemble (APGD-CE, APGD-DLR, Square with 1,000
queries), which was lilbench's "autoattack" before; its records keep their keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from lilbench.attacks.base import ATTACKS, AttackContext, EpsGridAttack, Point
from lilbench.errors import ConfigError
from lilbench.lazy import lazy_module

if TYPE_CHECKING:
    import torch

    from lilbench.attacks import art_backend as art
else:
    torch = lazy_module("torch")
    art = lazy_module("lilbench.attacks.art_backend")

MEMBERS = {
    "standard": ("apgd-ce", "apgd-t (9 targets)", "square (5000 queries)"),
    "art": ("apgd-ce", "apgd-dlr", "square (1000 queries)"),
}


@ATTACKS.register("autoattack")
@dataclass(frozen=True, kw_only=True)
class AutoAttackSpec(EpsGridAttack):
    """AutoAttack (standard members: APGD-CE, APGD-T, Square): worst case per example."""

    name: ClassVar[str] = "autoattack"
    version: str = "standard"

    def validate(self) -> AutoAttackSpec:
        super().validate()
        if self.version not in MEMBERS:
            raise ConfigError(
                f"unknown AutoAttack version {self.version!r}; known: {', '.join(MEMBERS)}"
            )
        return self

    def params(self) -> dict[str, Any]:
        params = super().params()
        if params.get("version") == "art":
            del params["version"]  # the key records of the earlier "autoattack" were made with
        return params

    @property
    def members(self) -> tuple[str, ...]:
        return MEMBERS[self.version]

    @property
    def uses_randomness(self) -> bool:
        return True

    def generate(self, ctx: AttackContext, point: Point, rows: slice) -> torch.Tensor:
        run = art.art_autoattack_standard if self.version == "standard" else art.art_autoattack
        adv = run(
            ctx.image_classifier(self.name),
            ctx.x[rows],
            ctx.y[rows],
            eps=point.eps,
            batch_size=self.batch_size,
            seed=ctx.seed,
        )
        return torch.from_numpy(adv)
