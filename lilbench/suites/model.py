"""What a suite is, once read: its settings (a beta or a method's grid point), the models it
did not train, and the suite itself."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lilbench.attacks import AttackSpec
from lilbench.certify.smoothing import SmoothingSpec
from lilbench.certify.spec import CertifySpec
from lilbench.data.noise import CorruptionSpec, NoiseSpec
from lilbench.training.config import TrainConfig


@dataclass(frozen=True)
class Setting:
    """One trained configuration of a suite, less its seed: a beta, or a method's grid point."""

    label: str  # "0.1" for a beta of the `betas:` shorthand, else "pgd-at eps=0.1"
    overrides: tuple[tuple[str, Any], ...]  # TrainConfig fields set by this setting
    beta: float = 0.0  # the LIL beta (0 for other objectives)

    @property
    def reference(self) -> bool:
        """Plain cross-entropy training: what verdicts compare every other setting with."""
        d = dict(self.overrides)
        if self.external is not None:
            return False
        return (
            d.get("objective", "lil") == "lil"
            and self.beta == 0
            and not d.get("spectral_norm")
            and d.get("activation", "tanh") == "tanh"
        )

    @property
    def external(self) -> ExternalEntry | None:
        """The suite's `models:` entry this setting stands for (a model lilbench did not train)."""
        found = dict(self.overrides).get("external")
        return found if isinstance(found, ExternalEntry) else None


@dataclass(frozen=True)
class ExternalEntry:
    """A `models:` entry: a torch.export / TorchScript file, or a factory with weights."""

    name: str
    model: str  # a file path, or package.module:factory
    weights: Path | None = None


@dataclass(frozen=True)
class SmoothingScope:
    """Which models a suite smooths (`smoothing: {seeds, settings, test_limit}`): smoothing at
    n = 100,000 costs about half a second per image and sigma on 2 CPU cores, so a large suite
    smooths a few settings on one seed. None: all of them (the suite's own test limit)."""

    seeds: tuple[int, ...] | None = None
    settings: tuple[str, ...] | None = None  # setting labels, as the report's rows name them
    test_limit: int | None = None

    def covers(self, setting: Setting, seed: int) -> bool:
        return (self.seeds is None or seed in self.seeds) and self.covers_setting(setting)

    def covers_setting(self, setting: Setting) -> bool:
        """Whether `settings` names it (as its label, or `beta=B` for the `betas:` shorthand)."""
        if self.settings is None:
            return True
        shorthand = setting.label == f"{setting.beta:g}"  # `betas:` labels a setting "1"
        return setting.label in self.settings or (
            shorthand and f"beta={setting.beta:g}" in self.settings
        )


@dataclass(frozen=True)
class Suite:
    name: str
    path: Path
    file_sha256: str
    description: str
    dataset: str
    train: dict[str, Any]
    settings: tuple[Setting, ...]
    seeds: tuple[int, ...]
    test_limit: int | None
    attacks: tuple[AttackSpec, ...]
    inspect: bool = False  # representation diagnostics in the report
    model_checks: bool = False  # the cross-attack and model-level sanity checks
    has_methods: bool = False  # written with `methods:` (settings named by method, not beta)
    # certified lower bounds per model, one block per norm (`certify: [{...}, {norm: 2}]`),
    # in the threat models' order (L-inf first)
    certifies: tuple[CertifySpec, ...] = ()
    mechanism: bool = False  # gradient norms and Lipschitz constants vs beta in the report
    geometry: bool = False  # neural collapse, CKA and effective rank of phi in the report
    topology: bool = False  # persistent homology per class, inputs vs phi, in the report
    topology_points: int = 500  # per class at most (`topology: {points: N}`)
    # Where it computes (cpu, cuda, cuda:N): `run`, `check` and `report` use it unless given
    # --device; checkpoints and records of another kind of device are never served for it.
    device: str = "cpu"
    # accuracy under random noise and MNIST-C's corruptions (`noise:`, `corruptions:`)
    noise: NoiseSpec | None = None
    corruptions: CorruptionSpec | None = None
    # randomized smoothing's certified L2 radii, one spec per sigma (`smoothing:`)
    smoothings: tuple[SmoothingSpec, ...] = ()
    smoothing_scope: SmoothingScope = SmoothingScope()

    @property
    def perturbs(self) -> bool:
        return self.noise is not None or self.corruptions is not None

    def smoothings_for(self, setting: Setting, seed: int) -> tuple[SmoothingSpec, ...]:
        """The smoothing specs one model gets (none outside `smoothing:`'s scope)."""
        return self.smoothings if self.smoothing_scope.covers(setting, seed) else ()

    @property
    def smoothing_limit(self) -> int | None:
        """How many test images smoothing certifies (its scope's, else the suite's)."""
        return self.smoothing_scope.test_limit or self.test_limit

    def certify_in(self, norm: str = "inf") -> CertifySpec | None:
        """The certify block of one norm, if the suite has one."""
        return next((c for c in self.certifies if c.norm == norm), None)

    @property
    def betas(self) -> tuple[float, ...]:
        return tuple(s.beta for s in self.settings)

    def train_config(self, setting: Setting, seed: int) -> TrainConfig:
        options = {**self.train, **dict(setting.overrides)}
        return TrainConfig.for_dataset(self.dataset, seed=seed, **options)
