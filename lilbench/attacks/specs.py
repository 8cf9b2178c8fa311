"""Attack specifications: small frozen dataclasses, validated up front, named in a registry.

A spec says what to run (its grid of points); `lilbench.attacks.runner` runs it through ART.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

from lilbench.attacks.grids import PAPER_GRID, check_unit
from lilbench.errors import ConfigError


@dataclass(frozen=True)
class Point:
    """One setting of an attack: the eps ball and the step size (FGSM: step = eps)."""

    eps: float
    step: float


@dataclass(frozen=True, kw_only=True)
class AttackSpec:
    name: ClassVar[str]
    sweep: ClassVar[str]  # which parameter varies along the grid: "eps" or "step"
    batch_size: int = 1000

    def validate(self) -> AttackSpec:
        if self.batch_size < 1:
            raise ConfigError(f"batch size must be >= 1, got {self.batch_size}")
        return self

    def points(self) -> list[Point]:
        raise NotImplementedError

    def params(self) -> dict[str, Any]:
        """JSON-ready parameters (tuples become lists, as they will in a record).

        Options added later appear only when set, so earlier records keep their cache keys.
        """
        params: dict[str, Any] = json.loads(json.dumps({"name": self.name, **asdict(self)}))
        for key, default in (("objective", "ce"), ("paper_faithful", False)):
            if params.get(key, default) == default:
                params.pop(key, None)
        return params

    @property
    def paper_objective(self) -> bool:
        """Attack the model's own training objective CE + beta * L_iso (as the authors do)."""
        return False

    @property
    def label(self) -> str:
        """Name in tables and suites: `-eps` marks a PGD eps sweep, `-paper` the authors'
        variants."""
        label = self.name
        if self.name == "pgd" and self.sweep == "eps":
            label += "-eps"
        return f"{label}-paper" if self.paper_objective else label

    @property
    def uses_randomness(self) -> bool:
        return False


@dataclass(frozen=True, kw_only=True)
class FGSM(AttackSpec):
    name: ClassVar[str] = "fgsm"
    sweep: ClassVar[str] = "eps"
    eps: tuple[float, ...] = PAPER_GRID
    objective: str = "ce"  # "paper": CE + beta * L_iso per batch of 100, as the authors do

    @property
    def paper_objective(self) -> bool:
        return self.objective == "paper"

    def validate(self) -> FGSM:
        super().validate()
        if self.objective not in ("ce", "paper"):
            raise ConfigError(f"unknown objective {self.objective!r}; known: ce, paper")
        check_unit(tuple(self.eps), what="eps")
        if not self.eps:
            raise ConfigError("eps grid is empty")
        return self

    def points(self) -> list[Point]:
        return [Point(eps=e, step=e) for e in self.eps]


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
        if self.step_factor <= 0:
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


@dataclass(frozen=True, kw_only=True)
class _EpsGridAttack(AttackSpec):
    sweep: ClassVar[str] = "eps"
    eps: tuple[float, ...] = (0.01, 0.03, 0.1, 0.2, 0.3)

    def validate(self) -> _EpsGridAttack:
        super().validate()
        if not self.eps:
            raise ConfigError("eps grid is empty")
        check_unit(tuple(self.eps), what="eps")
        return self

    def points(self) -> list[Point]:
        return [Point(eps=e, step=e) for e in self.eps]


@dataclass(frozen=True, kw_only=True)
class APGD(_EpsGridAttack):
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


@dataclass(frozen=True, kw_only=True)
class Square(_EpsGridAttack):
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


@dataclass(frozen=True, kw_only=True)
class AutoAttackSpec(_EpsGridAttack):
    """ART's AutoAttack ensemble (APGD-CE, APGD-DLR, Square): worst case per example."""

    name: ClassVar[str] = "autoattack"

    @property
    def uses_randomness(self) -> bool:
        return True


ATTACKS: dict[str, type[AttackSpec]] = {
    cls.name: cls for cls in (FGSM, PGD, APGD, Square, AutoAttackSpec)
}


def attack_class(name: str) -> type[AttackSpec]:
    try:
        return ATTACKS[name]
    except KeyError:
        raise ConfigError(f"unknown attack {name!r}; known: {', '.join(sorted(ATTACKS))}") from None
