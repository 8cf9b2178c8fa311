"""What every attack is: a small frozen dataclass of parameters, validated up front, that
says which points it runs (its grid) and makes adversarial examples for one point.

An attack is one file in this folder that registers its class in `ATTACKS`; the suite keys
and the record's parameters come from its fields. `lilbench.attacks.runner` runs it, checks
every result and knows no attack by name.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from lilbench.attacks.grids import PAPER_BATCH, check_unit
from lilbench.errors import ConfigError
from lilbench.lazy import lazy_module
from lilbench.registry import Registry
from lilbench.schemas import AttackRecord
from lilbench.threats import ThreatModel, threat
from lilbench.threats import keys as norm_keys

if TYPE_CHECKING:
    import torch

    from lilbench.attacks import art_backend
else:
    torch = lazy_module("torch")
    art_backend = lazy_module("lilbench.attacks.art_backend")

if TYPE_CHECKING:
    from art.estimators.classification import PyTorchClassifier


DEFAULT_COMMAND_EPS = (0.01, 0.03, 0.1, 0.2, 0.3)  # a command's eps grid unless told otherwise


def option(default: Any, help: str, *, what: str | None = None) -> Any:
    """A parameter field with its help, which the attack's command shows as --NAME; `what`
    names its values in error messages (default: the field's name)."""
    return field(default=default, metadata={"help": help, **({"what": what} if what else {})})


PAPER_SUFFIX = "-paper"  # what labels the authors' variants


def check_radius(values: tuple[float, ...], *, norm: str, what: str = "eps") -> tuple[float, ...]:
    """Radii for the norm: L-inf radii lie in [0, 1] (pixels in [0, 1]); other norms' radii
    are finite and >= 0, up to the threat model's largest."""
    t = threat(norm)
    if t.is_default:
        return check_unit(values, what=what)
    for v in values:
        if not (v >= 0 and math.isfinite(v)):
            raise ConfigError(f"{what} must be a finite {t.label} radius >= 0, got {v:g}")
        if v > t.max_eps:
            raise ConfigError(f"{what} must be an {t.label} radius <= {t.max_eps:g}, got {v:g}")
    return values


@dataclass(frozen=True)
class Point:
    """One setting of an attack: the eps ball and the step size (FGSM: step = eps)."""

    eps: float
    step: float


class AttackContext:
    """What an attack works on in one run: ART's classifier, the inputs, the seed, and what
    several attacks share (the clean-input gradient signs, an image-shaped classifier)."""

    def __init__(
        self,
        clf: PyTorchClassifier,
        x: np.ndarray,
        y: np.ndarray,
        *,
        seed: int,
        batch_size: int,
        objective_clf: PyTorchClassifier | None = None,
        image_shape: tuple[int, ...] | None = None,
    ) -> None:
        self.clf, self.x, self.y, self.seed = clf, x, y, seed
        self.image_shape = image_shape  # (C, H, W); None: square grey images
        self.batch_size = batch_size
        self.objective_clf = objective_clf
        self._signs: torch.Tensor | None = None
        self._img_clf: PyTorchClassifier | None = None
        # What an attack computes once for all its points (apgd-search's bisection).
        self.memo: dict[tuple[object, ...], Any] = {}
        # What the last `generate` reports beside its examples (AutoAttack: its members' log);
        # the runner empties it before each point and stores it with the point.
        self.notes: dict[str, Any] = {}

    def clean_signs(self, rows: slice) -> torch.Tensor:
        """sign of the attacked loss's gradient at the clean inputs (computed once per run)."""
        if self.objective_clf is not None:
            clf, bs = self.objective_clf, PAPER_BATCH  # L_iso pairs form within the batch
        else:
            clf, bs = self.clf, self.batch_size
        if rows != slice(None):
            return art_backend.fgsm_gradient_signs(clf, self.x[rows], self.y[rows], bs)
        if self._signs is None:
            self._signs = art_backend.fgsm_gradient_signs(clf, self.x, self.y, bs)
        return self._signs

    def image(self, attack: str) -> tuple[int, int, int]:
        """One input as (C, H, W), for attacks that need images (None given: square, grey)."""
        shape = self.image_shape
        if shape is None:
            side = round(self.x.shape[1] ** 0.5)
            shape = (1, side, side)
        if len(shape) != 3 or int(np.prod(shape)) != self.x.shape[1]:
            raise ConfigError(
                f"{attack} needs image inputs (C, H, W); inputs have {self.x.shape[1]} "
                "features and no image shape"
            )
        return (int(shape[0]), int(shape[1]), int(shape[2]))

    def image_classifier(self, attack: str) -> PyTorchClassifier:
        """The same model behind a Flatten, for ART's attacks that need (C, H, W) inputs."""
        if self._img_clf is None:
            self._img_clf = art_backend.image_classifier(
                self.clf.model,
                shape=self.image(attack),
                num_classes=self.clf.nb_classes,
                device=self.clf.device,
            )
        return self._img_clf

    def tensors(self, rows: slice) -> tuple[torch.Tensor, torch.Tensor]:
        """The rows' inputs and labels as tensors on the model's device."""
        dev = self.clf.device
        return torch.from_numpy(self.x[rows]).to(dev), torch.from_numpy(self.y[rows]).to(dev)


@dataclass(frozen=True, kw_only=True)
class AttackSpec:
    name: ClassVar[str]
    sweep: ClassVar[str]  # which parameter varies along the grid: "eps" or "step"
    eps0_applicable: ClassVar[bool] = True  # ART refuses eps = 0 for some attacks

    @property
    def eps0_skipped_because(self) -> str:
        """Why the eps = 0 check is not run, where eps0_applicable is False."""
        return f"ART's {self.name} refuses eps = 0 up front"

    # Facts about the attack that the model checks, the verdict, the reports and the CLI read
    # (so that no module outside attacks/ names an attack):
    gradient_free: ClassVar[bool] = False  # queries only: the gradient-masking check's witness
    one_step: ClassVar[bool] = False  # a single gradient step (its table shows no step column)
    minimal_perturbation: ClassVar[bool] = False  # each image's smallest breaking eps
    standard: ClassVar[bool] = False  # the field's standard evaluation: model cards, Pareto
    # Its command (`lilbench attack NAME`): the eps grid run when none is given, fields that
    # are not options, and options that are not fields (name, type, help), which
    # `from_command` reads.
    command_eps: ClassVar[tuple[float, ...]] = DEFAULT_COMMAND_EPS
    command_hidden: ClassVar[frozenset[str]] = frozenset()
    command_extras: ClassVar[tuple[tuple[str, type, str], ...]] = ()
    # The threat models the attack implements ("inf": L-inf, "2": L2); `norm` picks one.
    norms: ClassVar[tuple[str, ...]] = ("inf",)
    batch_size: int = 1000
    norm: str = option(
        "inf",
        "Threat model: inf (L-inf, the default), 2 (L2) or 1 (L1); eps is then a radius in "
        "that norm. Each attack's help says which it implements.",
    )

    @classmethod
    def from_options(cls, **given: Any) -> AttackSpec:
        """The spec of the options given (CLI or suite), validated."""
        return cls(**given).validate()

    @classmethod
    def from_command(
        cls, given: dict[str, Any], *, eps: tuple[float, ...] | None, eps_from_grid: bool
    ) -> AttackSpec:
        """The spec of a command's options: `given` holds the fields and extras that were
        set; `eps` is None when neither --eps nor --eps-grid was given."""
        return cls.from_options(eps=cls.command_eps if eps is None else eps, **given)

    def generate(self, ctx: AttackContext, point: Point, rows: slice) -> torch.Tensor:
        """Adversarial examples for the rows `rows` of the context's inputs at one point."""
        raise NotImplementedError

    def validate(self) -> AttackSpec:
        if self.batch_size < 1:
            raise ConfigError(f"batch size must be >= 1, got {self.batch_size}")
        if self.norm not in norm_keys():
            raise ConfigError(f"unknown norm {self.norm!r}; known: {', '.join(norm_keys())}")
        if not self.threat.is_default and self.paper_objective:
            raise ConfigError(
                "the authors' attacks are L-inf, as the paper ran them; drop norm (or the "
                "paper-faithful variant)"
            )
        if self.norm not in self.norms:
            have = ", ".join(n for n, c in sorted(ATTACKS.items()) if self.norm in c.norms)
            mine = ", ".join(threat(k).label for k in self.norms)
            raise ConfigError(
                f"{self.name} is {mine} only so far; norm {self.norm} "
                f"({self.threat.label}) is implemented for {have}"
            )
        return self

    def points(self) -> list[Point]:
        raise NotImplementedError

    def params(self) -> dict[str, Any]:
        """JSON-ready parameters (tuples become lists, as they will in a record).

        Options added later appear only when set, so earlier records keep their cache keys.
        """
        params: dict[str, Any] = json.loads(json.dumps({"name": self.name, **asdict(self)}))
        for key, default in (("objective", "ce"), ("paper_faithful", False), ("norm", "inf")):
            if params.get(key, default) == default:
                params.pop(key, None)
        return params

    @property
    def paper_objective(self) -> bool:
        """Attack the model's own training objective CE + beta * L_iso (as the authors do)."""
        return False

    @property
    def label(self) -> str:
        """Name in tables and suites; `-paper` marks the authors' variants, the threat
        model's suffix (`-l2`, `-l1`) the norm."""
        return self.named(self.name, paper=self.paper_objective)

    def named(self, stem: str, *, paper: bool) -> str:
        return (f"{stem}{PAPER_SUFFIX}" if paper else stem) + self.norm_suffix

    @property
    def standard_label(self) -> str:
        """The label of the same attack on the model's own loss: for the authors' copies,
        the standard attack they pair with; for every other attack its own label."""
        return self.named(self.label_stem, paper=False)

    @property
    def label_stem(self) -> str:
        """The label before the paper and norm suffixes."""
        return self.name

    @property
    def threat(self) -> ThreatModel:
        return threat(self.norm)

    @property
    def norm_suffix(self) -> str:
        """What a label gains for a threat model other than L-inf ("" for L-inf, so every
        earlier label stays)."""
        return self.threat.suffix

    @property
    def verdict_rank(self) -> int:
        """How strong a standard attack this is, for the verdict's choice of the strongest
        one that ran (higher: stronger); 0: never the verdict's attack (the authors' copies,
        and attacks that answer another question)."""
        return 0

    @property
    def gradient_witness(self) -> bool:
        """A standard gradient attack over an eps grid: what the gradient-masking check
        compares a gradient-free attack with."""
        return (
            self.sweep == "eps"
            and not self.gradient_free
            and not self.minimal_perturbation
            and not self.paper_objective
        )

    @property
    def uses_randomness(self) -> bool:
        return False

    def superseded(self) -> AttackSpec | None:
        """The spec whose records an earlier lilbench made for what this spec now computes
        differently (the lookup says so when it finds one); None: nothing changed."""
        return None


ENGINES = ("lilbench", "art")  # lilbench's own members, or ART's attack classes


def check_engine(engine: str | None, attack: str) -> None:
    if engine is not None and engine not in ENGINES:
        raise ConfigError(f"unknown {attack} engine {engine!r}; known: {', '.join(ENGINES)}")


@dataclass(frozen=True, kw_only=True)
class EpsGridAttack(AttackSpec):
    """An attack evaluated at each eps of a grid (ART refuses eps = 0 for these)."""

    sweep: ClassVar[str] = "eps"
    eps0_applicable: ClassVar[bool] = False
    eps: tuple[float, ...] = (0.01, 0.03, 0.1, 0.2, 0.3)

    def validate(self) -> EpsGridAttack:
        super().validate()
        if not self.eps:
            raise ConfigError("eps grid is empty")
        check_radius(tuple(self.eps), norm=self.norm)
        return self

    def points(self) -> list[Point]:
        return [Point(eps=e, step=e) for e in self.eps]


ATTACKS: Registry[type[AttackSpec]] = Registry("attack")


def spec_from_params(params: dict[str, Any]) -> AttackSpec:
    """The spec a record's `params` were written from (not validated again: the record's
    attack ran with it)."""
    cls = ATTACKS.get(str(params["name"]))
    names = {f.name for f in fields(cls)}
    values = {
        k: tuple(v) if isinstance(v, list) else v
        for k, v in params.items()
        if k != "name" and k in names
    }
    return cls(**values)  # type: ignore[arg-type]


def attack_facts(records: dict[str, AttackRecord]) -> dict[str, AttackSpec]:
    """label -> spec, for records keyed by label (what reports and checks hold)."""
    return {label: spec_from_params(rec.params) for label, rec in records.items() if rec}


def standard_label(specs: Iterable[AttackSpec]) -> str | None:
    """The label of the field's standard evaluation (AutoAttack) among `specs`, if it ran."""
    return next((s.label for s in specs if s.standard), None)


def standard_name() -> str:
    """The registered name of the standard evaluation (model cards' key for its figures)."""
    return next(cls.name for _, cls in ATTACKS.items() if cls.standard)


def quick_name() -> str:
    """The registered name of the standard one-step attack (FGSM): the API's default."""
    return next(cls.name for _, cls in ATTACKS.items() if cls.one_step)
