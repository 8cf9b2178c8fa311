"""The Square attack (Andriushchenko et al. 2020): score-based, no gradients, so it is the
check for gradient masking.

engine "lilbench" (the default): `kernels.square`, a window drawn per image and per query, as
in the paper. engine "art": ART's SquareAttack, which draws one window and one sign for the
whole batch per query; the records an earlier lilbench made were ART's, and keep their keys
under `engine: art`. Both engines also run the L2 version (norm 2: the paper's L2 windows
and update); lilbench's kernel runs an L1 version too (norm 1: the L2 scheme with L1 masses,
`kernels.square.window_pairs`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, ClassVar

from lilbench.attacks.base import (
    ATTACKS,
    AttackContext,
    AttackSpec,
    EpsGridAttack,
    Point,
    check_engine,
    option,
)
from lilbench.errors import ConfigError
from lilbench.lazy import lazy_module

if TYPE_CHECKING:
    import torch

    from lilbench.attacks import art_backend
    from lilbench.attacks.kernels import square as kernels
else:
    torch = lazy_module("torch")
    art_backend = lazy_module("lilbench.attacks.art_backend")
    kernels = lazy_module("lilbench.attacks.kernels.square")


@ATTACKS.register("square")
@dataclass(frozen=True, kw_only=True)
class Square(EpsGridAttack):
    """Square attack: gradient-free (score-based), the gradient-masking check."""

    name: ClassVar[str] = "square"
    gradient_free: ClassVar[bool] = True
    norms: ClassVar[tuple[str, ...]] = ("inf", "2", "1")
    max_iter: int = option(1000, "Queries per start.")
    restarts: int = option(1, "Random starts (seeded).")
    engine: str = option(
        "lilbench",
        "lilbench (a window per image and query, as the paper) or art (ART's SquareAttack: one "
        "window per batch and query; what lilbench ran before).",
    )

    def validate(self) -> Square:
        super().validate()
        if self.max_iter < 1 or self.restarts < 1:
            raise ConfigError("Square needs max_iter >= 1 and restarts >= 1")
        check_engine(self.engine, self.name)
        if self.engine == "art" and not self.threat.in_art:
            raise ConfigError(
                f"ART's Square is L-inf and L2 only; drop engine for lilbench's "
                f"{self.threat.label} Square"
            )
        return self

    def params(self) -> dict[str, Any]:
        params = super().params()
        if params.get("engine") == "art":
            del params["engine"]  # the key of the records ART's Square made before
        return params

    def superseded(self) -> AttackSpec | None:
        return replace(self, engine="art") if self.engine != "art" else None

    @property
    def uses_randomness(self) -> bool:
        return True

    def generate(self, ctx: AttackContext, point: Point, rows: slice) -> torch.Tensor:
        if self.engine == "art":
            return torch.from_numpy(
                art_backend.art_square(
                    ctx.image_classifier(self.name),
                    ctx.x[rows],
                    ctx.y[rows],
                    eps=point.eps,
                    max_iter=self.max_iter,
                    restarts=self.restarts,
                    batch_size=self.batch_size,
                    seed=ctx.seed,
                    norm=self.threat.art_norm,
                )
            )
        x, y = ctx.tensors(rows)
        adv = kernels.square(
            ctx.clf.model,
            x,
            y,
            eps=point.eps,
            shape=ctx.image(self.name),
            queries=self.max_iter,
            restarts=self.restarts,
            generator=torch.Generator().manual_seed(ctx.seed),
            norm=self.norm,
        )
        return adv.cpu()
