"""L-inf FGSM (Goodfellow et al. 2015) through ART's gradient, on an eps grid; with
`objective: paper` the authors' objective CE + beta * L_iso per batch of 100."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from lilbench.attacks.base import ATTACKS, AttackContext, AttackSpec, Point, check_radius
from lilbench.attacks.grids import PAPER_GRID
from lilbench.errors import ConfigError
from lilbench.lazy import lazy_module

if TYPE_CHECKING:
    import torch

    from lilbench.attacks import art_backend
    from lilbench.attacks.kernels import art_steps, sparse
else:
    torch = lazy_module("torch")
    art_backend = lazy_module("lilbench.attacks.art_backend")
    art_steps = lazy_module("lilbench.attacks.kernels.art_steps")
    sparse = lazy_module("lilbench.attacks.kernels.sparse")


@ATTACKS.register("fgsm")
@dataclass(frozen=True, kw_only=True)
class FGSM(AttackSpec):
    """FGSM at eps = logspace(-2, 0, 10) (the paper's grid) unless --eps/--eps-grid; L-inf
    (the gradient's sign), with --norm 2 L2 (the gradient normalised in L2), or with --norm
    1 L1 (the threat model's sparse steepest step: the top 1% of the gradient's
    coordinates)."""

    name: ClassVar[str] = "fgsm"
    sweep: ClassVar[str] = "eps"
    one_step: ClassVar[bool] = True
    norms: ClassVar[tuple[str, ...]] = ("inf", "2", "1")
    command_eps: ClassVar[tuple[float, ...]] = PAPER_GRID
    # `--objective` selects a model's training objective on the command line; the attack's
    # objective is --paper-faithful there.
    command_hidden: ClassVar[frozenset[str]] = frozenset({"objective"})
    command_extras: ClassVar[tuple[tuple[str, type, str], ...]] = (
        (
            "paper_faithful",
            bool,
            "The authors' attack: objective CE + beta * L_iso per batch of 100.",
        ),
    )
    eps: tuple[float, ...] = PAPER_GRID
    objective: str = "ce"  # "paper": CE + beta * L_iso per batch of 100, as the authors do

    @property
    def paper_objective(self) -> bool:
        return self.objective == "paper"

    @property
    def verdict_rank(self) -> int:
        return 0 if self.paper_objective else 1

    @classmethod
    def from_command(
        cls, given: dict[str, Any], *, eps: tuple[float, ...] | None, eps_from_grid: bool
    ) -> AttackSpec:
        rest = dict(given)
        if rest.pop("paper_faithful", False):
            rest["objective"] = "paper"
        return super().from_command(rest, eps=eps, eps_from_grid=eps_from_grid)

    def validate(self) -> FGSM:
        super().validate()
        if self.objective not in ("ce", "paper"):
            raise ConfigError(f"unknown objective {self.objective!r}; known: ce, paper")
        check_radius(tuple(self.eps), norm=self.norm)
        if not self.eps:
            raise ConfigError("eps grid is empty")
        return self

    def points(self) -> list[Point]:
        return [Point(eps=e, step=e) for e in self.eps]

    def generate(self, ctx: AttackContext, point: Point, rows: slice) -> torch.Tensor:
        if not self.threat.in_art:  # no ART arithmetic to match: the threat's own step
            x, y = ctx.tensors(rows)
            adv = sparse.pgd(
                ctx.clf.model, x, y, self.threat, eps=point.eps, step=point.eps, steps=1
            )
            return adv.cpu()
        if not self.threat.is_default:  # ART's own FastGradientMethod in L2, one eps at a time
            if point.eps == 0:  # ART refuses a zero step; a step of length 0 is the input
                return torch.from_numpy(ctx.x[rows].copy())
            return torch.from_numpy(
                art_backend.art_fgsm(
                    ctx.clf,
                    ctx.x[rows],
                    ctx.y[rows],
                    point.eps,
                    self.batch_size,
                    norm=self.threat.art_norm,
                )
            )
        # The gradient does not depend on eps: computed once, applied at every eps.
        return art_steps.fgsm_apply(torch.from_numpy(ctx.x[rows]), ctx.clean_signs(rows), point.eps)
