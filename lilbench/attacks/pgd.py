"""L-inf PGD (Madry et al. 2018) through ART: the paper's step-size sweep in a 0.5 ball, or an
eps sweep with random restarts; `paper_faithful` is the authors' variant (every step along
the clean-input gradient of their objective)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from lilbench.attacks.base import ATTACKS, AttackContext, AttackSpec, Point, check_radius, option
from lilbench.attacks.grids import PAPER_GRID, parse_grid
from lilbench.errors import ConfigError
from lilbench.lazy import lazy_module

if TYPE_CHECKING:
    import torch

    from lilbench.attacks import art_backend, faithful
    from lilbench.attacks.kernels import art_steps, sparse
else:
    sparse = lazy_module("lilbench.attacks.kernels.sparse")
    torch = lazy_module("torch")
    art_backend = lazy_module("lilbench.attacks.art_backend")
    art_steps = lazy_module("lilbench.attacks.kernels.art_steps")
    faithful = lazy_module("lilbench.attacks.faithful")


@ATTACKS.register("pgd")
@dataclass(frozen=True, kw_only=True)
class PGD(AttackSpec):
    """PGD, L-inf (L2 with --norm 2 through ART; L1 with --norm 1 along the threat model's
    sparse steepest step, projected exactly). Default: the paper's ball 0.5, 10 steps, step sizes
    logspace(-2, 0, 10).

    With several eps and no explicit steps sizes, each eps gets the usual Madry step
    `step_factor * eps / steps` (2.5 * eps / steps), so accuracy is a function of eps.
    """

    name: ClassVar[str] = "pgd"
    norms: ClassVar[tuple[str, ...]] = ("inf", "2", "1")
    command_eps: ClassVar[tuple[float, ...]] = (0.5,)
    command_extras: ClassVar[tuple[tuple[str, type, str], ...]] = (
        ("step_grid", str, "Step-size log grid START:STOP:NUM."),
    )
    eps: tuple[float, ...] = (0.5,)
    steps: int = option(10, "PGD iterations.")
    step: tuple[float, ...] | None = option(
        PAPER_GRID, "Comma-separated step sizes.", what="step size"
    )
    step_factor: float = option(2.5, "Eps sweeps: step = factor * eps / steps (Madry).")
    restarts: int = option(0, "Random starts (seeded; 0: start at the clean input).")
    # The authors' variant: their objective, every step along the clean-input gradient.
    paper_faithful: bool = option(
        False,
        "The authors' attack: objective CE + beta * L_iso per batch of 100, every step "
        "along the clean-input gradient.",
    )

    @classmethod
    def from_command(
        cls, given: dict[str, Any], *, eps: tuple[float, ...] | None, eps_from_grid: bool
    ) -> AttackSpec:
        """One eps (the paper's 0.5 ball by default) sweeps the paper's step sizes; an eps
        grid, or several eps, and no step option sweep eps with the Madry step."""
        rest = dict(given)
        grid = rest.pop("step_grid", None)
        if grid is not None:
            if "step" in rest:
                raise ConfigError("give --step or --step-grid, not both")
            rest["step"] = parse_grid(grid, what="step size", unit=False)
        eps = cls.command_eps if eps is None else eps
        if "step" not in rest and (len(eps) != 1 or eps_from_grid):
            rest["step"] = None  # eps sweep, Madry step rule
        return super().from_command(rest, eps=eps, eps_from_grid=eps_from_grid)

    @property
    def paper_objective(self) -> bool:
        return self.paper_faithful

    @property
    def sweep(self) -> str:  # type: ignore[override]
        return "step" if self.step is not None else "eps"

    @property
    def label_stem(self) -> str:
        """`pgd-eps` for an eps sweep, `pgd` for the paper's step-size sweep."""
        return "pgd-eps" if self.sweep == "eps" else "pgd"

    @property
    def label(self) -> str:
        return self.named(self.label_stem, paper=self.paper_objective)

    @property
    def verdict_rank(self) -> int:
        # An eps sweep with the Madry step is the stronger PGD; the step sweep in the paper's
        # 0.5 ball answers a question of the paper's.
        return 0 if self.paper_objective else 3 if self.sweep == "eps" else 2

    def validate(self) -> PGD:
        super().validate()
        check_radius(tuple(self.eps), norm=self.norm)
        if self.step is not None:
            check_radius(tuple(self.step), norm=self.norm, what="step size")
            if len(self.eps) != 1:
                raise ConfigError("a step-size sweep takes one eps; drop --step or give one --eps")
        if not self.eps or (self.step is not None and not self.step):
            raise ConfigError("empty grid")
        if self.steps < 1:
            raise ConfigError(f"steps must be >= 1, got {self.steps}")
        if self.restarts < 0:
            raise ConfigError(f"restarts must be >= 0, got {self.restarts}")
        if not self.step_factor > 0 or not math.isfinite(self.step_factor):
            raise ConfigError(f"step factor must be a finite number > 0, got {self.step_factor}")
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
            return art_steps.fgsm_apply(
                torch.from_numpy(ctx.x[rows]), ctx.clean_signs(rows), radius
            )
        if not self.threat.in_art:
            return self._threat_pgd(ctx, point, rows)
        if self.restarts == 0 and self.threat.is_default:
            # ART's arithmetic without its overhead; bit-identical (tested)
            return torch.from_numpy(
                art_steps.linf_pgd_clean_start(
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
        adv = art_backend.art_pgd(
            ctx.clf,
            ctx.x[rows],
            ctx.y[rows],
            eps=point.eps,
            step=point.step,
            steps=self.steps,
            restarts=self.restarts,
            batch_size=self.batch_size,
            seed=ctx.seed,
            norm=self.threat.art_norm,
        )
        return torch.from_numpy(adv)

    def _threat_pgd(self, ctx: AttackContext, point: Point, rows: slice) -> torch.Tensor:
        """PGD in a norm ART lacks: from the clean input, or from `restarts` seeded random
        starts, keeping per image the first misclassified result (else the last)."""
        x, y = ctx.tensors(rows)
        model = ctx.clf.model
        run = dict(eps=point.eps, step=point.step, steps=self.steps)
        if self.restarts == 0:
            return sparse.pgd(model, x, y, self.threat, **run).cpu()  # type: ignore[arg-type]
        gen = torch.Generator(device=x.device).manual_seed(ctx.seed)
        best = x.clone()
        robust = torch.ones(len(x), dtype=torch.bool, device=x.device)
        for _ in range(self.restarts):
            adv = sparse.pgd(model, x, y, self.threat, generator=gen, **run)  # type: ignore[arg-type]
            with torch.no_grad():
                broke = robust & (model(adv).argmax(1) != y)
            best[robust] = adv[robust]  # a broken image keeps this point from now on
            robust &= ~broke
        return best.cpu()
