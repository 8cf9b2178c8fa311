"""L-inf PGD (Madry et al. 2018) through ART: the paper's step-size sweep in a 0.5 ball, or an
eps sweep with random restarts; `paper_faithful` is the authors' variant (every step along
the clean-input gradient of their objective)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from lilbench.attacks.base import ATTACKS, AttackContext, AttackSpec, Point
from lilbench.attacks.grids import PAPER_GRID, check_unit
from lilbench.errors import ConfigError
from lilbench.lazy import lazy_module

if TYPE_CHECKING:
    import torch

    from lilbench.attacks import art_backend as art
    from lilbench.attacks import faithful
else:
    torch = lazy_module("torch")
    art = lazy_module("lilbench.attacks.art_backend")
    faithful = lazy_module("lilbench.attacks.faithful")


@ATTACKS.register("pgd")
@dataclass(frozen=True, kw_only=True)
class PGD(AttackSpec):
    """L-inf PGD. Default: the paper's ball 0.5, 10 steps, step sizes logspace(-2, 0, 10).

    With several eps and no explicit steps sizes, each eps gets the usual Madry step
    `step_factor * eps / steps` (2.5 * eps / steps), so accuracy is a function of eps.
    """

    name: ClassVar[str] = "pgd"
    eps: tuple[float, ...] = (0.5,)
    steps: int = 10
    step: tuple[float, ...] | None = PAPER_GRID
    step_factor: float = 2.5
    restarts: int = 0  # random starts (0 = start at the clean input)
    # The authors' variant: their objective, every step along the clean-input gradient.
    paper_faithful: bool = False

    @property
    def paper_objective(self) -> bool:
        return self.paper_faithful

    @property
    def sweep(self) -> str:  # type: ignore[override]
        return "step" if self.step is not None else "eps"

    def validate(self) -> PGD:
        super().validate()
        check_unit(tuple(self.eps), what="eps")
        if self.step is not None:
            check_unit(tuple(self.step), what="step size")
            if len(self.eps) != 1:
                raise ConfigError("a step-size sweep takes one eps; drop --step or give one --eps")
        if not self.eps or (self.step is not None and not self.step):
            raise ConfigError("empty grid")
        if self.steps < 1:
            raise ConfigError(f"steps must be >= 1, got {self.steps}")
        if self.restarts < 0:
            raise ConfigError(f"restarts must be >= 0, got {self.restarts}")
        if not self.step_factor > 0 or not math.isfinite(self.step_factor):
            raise ConfigError(f"step factor must be > 0, got {self.step_factor}")
        if self.paper_faithful and self.restarts:
            raise ConfigError("the authors' PGD has no random starts; drop --restarts")
        return self

    def points(self) -> list[Point]:
        if self.step is not None:
            return [Point(eps=self.eps[0], step=s) for s in self.step]
        return [Point(eps=e, step=self.step_factor * e / self.steps) for e in self.eps]

    def params(self) -> dict[str, Any]:
        d = super().params()
        if self.step is not None:
            d.pop("step_factor")
        return d

    @property
    def uses_randomness(self) -> bool:
        return self.restarts > 0

    @classmethod
    def from_options(cls, **given: Any) -> PGD:
        # Several eps and no step sizes: the eps sweep with the Madry step rule.
        if "step" not in given and len(given.get("eps", (0.5,))) > 1:
            given["step"] = None
        return cls(**given).validate()

    def generate(self, ctx: AttackContext, point: Point, rows: slice) -> torch.Tensor:
        if self.paper_faithful:
            radius = faithful.authors_pgd_radius(eps=point.eps, step=point.step, steps=self.steps)
            return art.fgsm_apply(torch.from_numpy(ctx.x[rows]), ctx.clean_signs(rows), radius)
        if self.restarts == 0:  # ART's arithmetic without its overhead; bit-identical (tested)
            return torch.from_numpy(
                art.linf_pgd_clean_start(
                    ctx.clf,
                    ctx.x[rows],
                    ctx.y[rows],
                    eps=point.eps,
                    step=point.step,
                    steps=self.steps,
                    batch_size=self.batch_size,
                    clean_signs=ctx.clean_signs(rows),  # computed once, shared by every step
                )
            )
        adv = art.art_pgd(
            ctx.clf,
            ctx.x[rows],
            ctx.y[rows],
            eps=point.eps,
            step=point.step,
            steps=self.steps,
            restarts=self.restarts,
            batch_size=self.batch_size,
            seed=ctx.seed,
        )
        return torch.from_numpy(adv)
