"""The Square attack (Andriushchenko et al. 2020) through ART: score-based, no gradients, so
it is the check for gradient masking."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from lilbench.attacks.base import ATTACKS, AttackContext, EpsGridAttack, Point
from lilbench.errors import ConfigError
from lilbench.lazy import lazy_module

if TYPE_CHECKING:
    import torch

    from lilbench.attacks import art_backend as art
else:
    torch = lazy_module("torch")
    art = lazy_module("lilbench.attacks.art_backend")


@ATTACKS.register("square")
@dataclass(frozen=True, kw_only=True)
class Square(EpsGridAttack):
    """ART's Square attack: gradient-free (score-based), the gradient-masking check."""

    name: ClassVar[str] = "square"
    max_iter: int = 1000
    restarts: int = 1

    def validate(self) -> Square:
        super().validate()
        if self.max_iter < 1 or self.restarts < 1:
            raise ConfigError("Square needs max_iter >= 1 and restarts >= 1")
        return self

    @property
    def uses_randomness(self) -> bool:
        return True

    def generate(self, ctx: AttackContext, point: Point, rows: slice) -> torch.Tensor:
        adv = art.art_square(
            ctx.image_classifier(self.name),
            ctx.x[rows],
            ctx.y[rows],
            eps=point.eps,
            max_iter=self.max_iter,
            restarts=self.restarts,
            batch_size=self.batch_size,
            seed=ctx.seed,
        )
        return torch.from_numpy(adv)
