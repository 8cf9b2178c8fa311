"""Training configuration: validated up front, hashed to name its checkpoint."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

from lilbench.errors import ConfigError
from lilbench.io import canonical_json, sha256_bytes
from lilbench.models import ACTIVATION_NAMES, CONV_NAMES, DTYPE_NAMES, HEADS, INIT_NAMES
from lilbench.objectives import OBJECTIVES, Objective, parse_params
from lilbench.objectives.isometry import METRICS, MODES

# The paper's toy-manifold settings: [D, 20, 20, 20, 20, C] tanh, full batch, Adam. The paper
# trains 10,000 epochs; the authors' torus script 2,000, which is the default here.
DATASET_DEFAULTS: dict[str, dict[str, Any]] = {
    "mnist": {},
    "rings": {"width": 20, "depth": 4, "batch_size": None, "epochs": 2000},
    "torus": {"width": 20, "depth": 4, "batch_size": None, "epochs": 2000},
}

# Presets: named sets of defaults (explicit options win). "authors": the network of the
# authors' code (KBeshkov/HIsometricNets, Analysis/ML_models.py NN_class with n_layers=4):
# Linear(in -> 100) and four Linear(100 -> 100), each followed by tanh (five tanh layers; the
# paper's text says four), then Linear(100 -> 10); the four 100 x 100 weights orthogonally
# initialised, the input and class layers at PyTorch's default; all in float64; Adam 1e-3,
# batch 100, 5 epochs (their MNIST scripts; Fashion-MNIST 10). Their loss settings are the
# ordinary --beta (Iso_coef) and --k options: (0.1, 10) and (0.001, 1) in their MNIST scripts,
# (10, 1) for Fashion-MNIST.
PRESETS: dict[str, dict[str, Any]] = {
    "authors": {
        "width": 100,
        "depth": 5,
        "dtype": "float64",
        "init": "orthogonal",
        "epochs": 5,
        "batch_size": 100,
        "lr": 1e-3,
    },
}
PRESET_DATASET_DEFAULTS: dict[tuple[str, str], dict[str, Any]] = {
    ("authors", "fashion-mnist"): {"epochs": 10},
}

# Options added later hash only when set, so earlier checkpoints keep their names.
_HASHED_IF_SET: dict[str, Any] = {
    "hierarchy": False,
    "head": "per-level",
    "detach": True,
    "objective": "lil",
    "objective_params": None,
    "spectral_norm": False,
    "conv": None,
    "preset": None,
    "dtype": "float32",
    "init": "default",
}
# The LIL objective's parameters live at the top level (where they were before objectives
# existed), so the checkpoints of LIL models keep their config hashes.
LIL_KEYS = ("alpha", "beta", "mode", "k", "metric")


@dataclass(frozen=True)
class TrainConfig:
    """Defaults are the paper's MNIST settings (Adam 1e-3, batch 100, 5 epochs, 4 x 100 tanh)."""

    dataset: str = "mnist"
    beta: float = 0.0
    alpha: float = 1.0
    mode: str = "local"
    k: float = 1.0
    metric: str = "euclidean"
    width: int = 100
    depth: int = 4
    activation: str = "tanh"
    epochs: int = 5
    batch_size: int | None = 100  # None: full batch (the toy manifolds' setting)
    lr: float = 1e-3
    limit: int | None = None  # first N training images only
    seed: int = 0
    hierarchy: bool = False  # stacked LIL blocks, one per label level
    head: str = "per-level"  # stacked models: "per-level" or "shared"
    detach: bool = True  # stacked models: level b's loss reaches only block b
    objective: str = "lil"  # a name in lilbench.objectives.OBJECTIVES
    objective_params: dict[str, Any] | None = None  # parameters of a non-LIL objective
    spectral_norm: bool = False  # every linear layer spectrally normalised (Miyato et al.)
    conv: str | None = None  # a convolutional feature extractor before the LIL head (a preset)
    preset: str | None = None  # the defaults it was built from (PRESETS); recorded, hashed if set
    dtype: str = "float32"  # parameters and training arithmetic (MLPs: float32 or float64)
    init: str = "default"  # MLP hidden layers: PyTorch's default or orthogonal (width x width)

    def objective_values(self) -> dict[str, Any]:
        """The objective's parameters as given (LIL: the top-level fields)."""
        if self.objective == "lil":
            return {key: getattr(self, key) for key in LIL_KEYS}
        return dict(self.objective_params or {})

    def make_objective(self) -> Objective:
        cls = OBJECTIVES.get(self.objective)
        return cls(parse_params(cls, self.objective_values()))

    @property
    def model_family(self) -> str:
        """The registered model family this config trains."""
        if self.conv is not None:
            return "ConvLIL"
        return "StackedLIL" if self.hierarchy else "LILMLP"

    def label(self) -> str:
        """How reports name this model's method: "lil beta=1", "pgd-at eps=0.1", ..."""
        label = self.make_objective().label()
        return (
            label.replace(self.objective, self.objective + "+sn", 1)
            if self.spectral_norm
            else label
        )

    def validate(self) -> TrainConfig:
        from lilbench.data.base import DATASETS

        if self.dataset not in DATASETS:
            raise ConfigError(DATASETS.unknown(self.dataset))
        if self.beta < 0:
            raise ConfigError(f"beta must be >= 0, got {self.beta}")
        if self.alpha < 0:
            raise ConfigError(f"alpha must be >= 0, got {self.alpha}")
        if self.mode not in MODES:
            raise ConfigError(f"unknown mode {self.mode!r}; known: {', '.join(MODES)}")
        if self.metric not in METRICS:
            raise ConfigError(f"unknown metric {self.metric!r}; known: {', '.join(METRICS)}")
        if self.activation not in ACTIVATION_NAMES:
            raise ConfigError(
                f"unknown activation {self.activation!r}; known: {', '.join(ACTIVATION_NAMES)}"
            )
        for name in ("width", "depth", "epochs", "batch_size"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ConfigError(
                    f"{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}"
                )
        if not self.lr > 0:
            raise ConfigError(f"lr must be > 0, got {self.lr}")
        if self.k <= 0:
            raise ConfigError(f"k must be > 0, got {self.k}")
        if self.limit is not None and self.limit < 1:
            raise ConfigError(f"limit must be >= 1, got {self.limit}")
        if self.preset is not None and self.preset not in PRESETS:
            raise ConfigError(f"unknown preset {self.preset!r}; known: {', '.join(PRESETS)}")
        if self.dtype not in DTYPE_NAMES:
            raise ConfigError(f"unknown dtype {self.dtype!r}; known: {', '.join(DTYPE_NAMES)}")
        if self.init not in INIT_NAMES:
            raise ConfigError(f"unknown init {self.init!r}; known: {', '.join(INIT_NAMES)}")
        if (self.dtype, self.init) != ("float32", "default") and (self.hierarchy or self.conv):
            what = "stacked LILs" if self.hierarchy else "--conv"
            raise ConfigError(f"--dtype and --init apply to plain MLPs, not to {what}")
        if self.head not in HEADS:
            raise ConfigError(f"unknown head {self.head!r}; known: {', '.join(HEADS)}")
        if self.conv is not None:
            if self.conv not in CONV_NAMES:
                raise ConfigError(
                    f"unknown conv preset {self.conv!r}; known: {', '.join(CONV_NAMES)}"
                )
            if self.hierarchy or self.spectral_norm:
                what = "stacked LILs" if self.hierarchy else "spectral normalisation"
                raise ConfigError(f"--conv does not combine with {what} (MLPs only)")
        if self.mode == "none" and self.beta != 0:
            raise ConfigError(
                "mode 'none' means plain cross-entropy: use beta 0 or mode local/global"
            )
        if self.objective != "lil":
            lil = TrainConfig()
            for key in LIL_KEYS:
                if getattr(self, key) != getattr(lil, key) and not (
                    key == "mode" and self.mode == "none"
                ):
                    raise ConfigError(
                        f"{key} is a parameter of the lil objective, not of {self.objective}"
                    )
            if self.hierarchy:
                raise ConfigError(
                    f"stacked models train with the lil objective, not {self.objective}"
                )
        elif self.objective_params:
            raise ConfigError("the lil objective takes its parameters as beta, alpha, mode, k")
        for key in LIL_KEYS:
            value = getattr(self, key)
            if isinstance(value, float) and not math.isfinite(value):
                raise ConfigError(f"{key} must be a finite number, got {value}")
        if not math.isfinite(self.lr):
            raise ConfigError(f"lr must be a finite number, got {self.lr}")
        self.make_objective()  # validates the objective's own parameters
        return self

    @classmethod
    def for_dataset(cls, dataset: str, **options: Any) -> TrainConfig:
        """The data set's defaults, overridden by the options that are not None."""
        given = {k: v for k, v in options.items() if v is not None}
        preset = given.get("preset")
        if preset is not None and preset not in PRESETS:
            raise ConfigError(f"unknown preset {preset!r}; known: {', '.join(PRESETS)}")
        from_preset = (
            {**PRESETS[preset], **PRESET_DATASET_DEFAULTS.get((preset, dataset), {})}
            if preset is not None
            else {}
        )
        merged = {**DATASET_DEFAULTS.get(dataset, {}), **from_preset, **given}
        if merged.get("conv") in CONV_NAMES:  # a conv preset brings its head's width and depth
            from lilbench.models.conv import CONV_PRESETS

            head = CONV_PRESETS[merged["conv"]]
            merged = {"width": head["width"], "depth": head["depth"], **merged}
        return cls(dataset=dataset, **merged)

    def normalised(self) -> TrainConfig:
        """beta = 0 trains the same model whatever mode says; one checkpoint serves all. A
        non-LIL objective's parameters are stored in full (defaults filled in), so leaving a
        default out and writing it give the same checkpoint."""
        if self.objective != "lil":
            params = self.make_objective().params.model_dump()
            return TrainConfig(**{**asdict(self), "objective_params": params, "mode": "none"})
        if self.beta == 0 and self.mode != "none":
            return TrainConfig(**{**asdict(self), "mode": "none"})
        return self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ConfigError(f"unknown training keys: {', '.join(sorted(unknown))}")
        return cls(**data)

    def config_hash(self) -> str:
        """Content hash of the normalised config (floats as JSON numbers, so 1 == 1.0)."""
        d = self.normalised().to_dict()
        for key, default in _HASHED_IF_SET.items():
            if d[key] == default:
                del d[key]
        for key in ("beta", "alpha", "k", "lr"):
            d[key] = float(d[key])
        return sha256_bytes(canonical_json(d).encode())
