"""Training configuration: validated up front, hashed to name its checkpoint."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from lilbench.data.user_files import identity as user_data_identity
from lilbench.data.user_files import is_user_data
from lilbench.errors import ConfigError
from lilbench.io import canonical_json, sha256_bytes
from lilbench.models.families import FAMILIES, ModelFamily, ModelParams
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
# The model fields of the configs written before model families existed, in their order, with
# their defaults: still accepted (CLI options, suite keys, stored checkpoints), and what the
# built-in families' configs are stored and hashed as, so that every earlier name holds.
LEGACY_MODEL_FIELDS: dict[str, Any] = {
    "width": 100,
    "depth": 4,
    "activation": "tanh",
    "hierarchy": False,
    "head": "per-level",
    "detach": True,
    "spectral_norm": False,
    "conv": None,
    "dtype": "float32",
    "init": "default",
}
_ORDER = (
    *("dataset", "beta", "alpha", "mode", "k", "metric", "width", "depth", "activation"),
    *("epochs", "batch_size", "lr", "limit", "seed", "hierarchy", "head", "detach"),
    *("objective", "objective_params", "spectral_norm", "conv", "preset", "dtype", "init"),
)


def _family_name(model: str | None, legacy: dict[str, Any]) -> str:
    """The family a config names: `model`, or a legacy flag that selects one (`hierarchy`,
    `conv`), or the MLP."""
    chosen = [
        name
        for name, fam in FAMILIES.items()
        if fam.selected_by is not None and legacy.get(fam.selected_by) not in (None, False)
    ]
    if model is not None:
        chosen = [model, *[c for c in chosen if c != model]]
    if len(chosen) > 1:
        flags = [FAMILIES.get(c).selected_by or "model" for c in chosen]
        raise ConfigError(
            f"{' and '.join(flags)} choose two model families ({', '.join(chosen)}): give one"
        )
    return chosen[0] if chosen else "mlp"


def resolve_model(
    model: str | None, params: dict[str, Any] | None, legacy: dict[str, Any]
) -> tuple[str, ModelParams]:
    """(family name, validated parameters) of a config given as `model` + `model_params`
    and/or as the flat legacy fields (`width`, `hierarchy`, `conv`, ...)."""
    name = _family_name(model, legacy)
    family = FAMILIES.get(name)
    fields_ = family.params_type.model_fields
    unknown = sorted(set(legacy) - set(LEGACY_MODEL_FIELDS) - set(fields_))
    for key in unknown:
        owners = [n for n, f in FAMILIES.items() if key in f.params_type.model_fields]
        if owners:
            raise ConfigError(
                f"{key} is not a parameter of model family {name}; it is one of "
                f"{', '.join(owners)} (choose with --model)"
            )
    if unknown:
        raise ConfigError(f"unknown training keys: {', '.join(unknown)}")
    values = dict(params or {})
    for key, value in legacy.items():
        if key in fields_:
            values[key] = value
        elif key == family.selected_by or value == LEGACY_MODEL_FIELDS.get(key, value):
            continue  # the flag that chose this family, or another family's default
        else:
            raise ConfigError(
                f"{key} is not a parameter of model family {name}; known: {', '.join(fields_)}"
            )
    return name, family.parse(values)


@dataclass(frozen=True, init=False)
class TrainConfig:
    """Defaults are the paper's MNIST settings (Adam 1e-3, batch 100, 5 epochs, 4 x 100 tanh).

    The model is a registered family (`model`) and its parameters (`model_params`, validated
    by the family's pydantic model). The model fields of earlier versions (`width=...`,
    `hierarchy=True`, `conv="small"`) are accepted as keywords and mapped onto the family.
    """

    dataset: str = "mnist"
    beta: float = 0.0
    alpha: float = 1.0
    mode: str = "local"
    k: float = 1.0
    metric: str = "euclidean"
    epochs: int = 5
    batch_size: int | None = 100  # None: full batch (the toy manifolds' setting)
    lr: float = 1e-3
    limit: int | None = None  # first N training images only
    seed: int = 0
    objective: str = "lil"  # a name in lilbench.objectives.OBJECTIVES
    objective_params: dict[str, Any] | None = None  # parameters of a non-LIL objective
    preset: str | None = None  # the defaults it was built from (PRESETS); recorded, hashed if set
    model: str = "mlp"  # a name in lilbench.models.families.FAMILIES
    model_params: dict[str, Any] = field(default_factory=dict)  # the family's, defaults filled

    def __init__(
        self,
        dataset: str = "mnist",
        beta: float = 0.0,
        alpha: float = 1.0,
        mode: str = "local",
        k: float = 1.0,
        metric: str = "euclidean",
        epochs: int = 5,
        batch_size: int | None = 100,
        lr: float = 1e-3,
        limit: int | None = None,
        seed: int = 0,
        objective: str = "lil",
        objective_params: dict[str, Any] | None = None,
        preset: str | None = None,
        model: str | None = None,
        model_params: dict[str, Any] | None = None,
        **legacy: Any,
    ) -> None:
        name, params = resolve_model(model, model_params, legacy)
        given = dict(locals())
        for f in fields(self):
            if f.name not in ("model", "model_params"):
                object.__setattr__(self, f.name, given[f.name])
        object.__setattr__(self, "model", name)
        object.__setattr__(self, "model_params", params.model_dump())

    @property
    def family(self) -> type[ModelFamily]:
        return FAMILIES.get(self.model)

    @property
    def method_name(self) -> str:
        """The objective's name with the model's mark ("lil", "lil+sn", "pgd-at")."""
        return self.objective + self.family.label_suffix(self.params)

    @property
    def params(self) -> ModelParams:
        """The model family's parameters, typed."""
        return self.family.parse(self.model_params)

    def objective_values(self) -> dict[str, Any]:
        """The objective's parameters as given (LIL: the top-level fields)."""
        if self.objective == "lil":
            return {key: getattr(self, key) for key in LIL_KEYS}
        return dict(self.objective_params or {})

    def make_objective(self) -> Objective:
        cls = OBJECTIVES.get(self.objective)
        return cls(parse_params(cls, self.objective_values()))

    def label(self) -> str:
        """How reports name this model's method: "lil beta=1", "pgd-at eps=0.1", ..."""
        label = self.make_objective().label()
        suffix = self.family.label_suffix(self.params)
        return label.replace(self.objective, self.objective + suffix, 1) if suffix else label

    def validate(self) -> TrainConfig:
        from lilbench.data.base import known_dataset

        known_dataset(self.dataset)
        if self.beta < 0:
            raise ConfigError(f"beta must be >= 0, got {self.beta}")
        if self.alpha < 0:
            raise ConfigError(f"alpha must be >= 0, got {self.alpha}")
        if self.objective == "lil" and self.alpha == 0 and self.beta == 0:
            raise ConfigError(
                "alpha 0 and beta 0 make the loss zero, so nothing would be trained; give "
                "alpha > 0 (cross-entropy) or beta > 0 (isometry)"
            )
        if self.mode not in MODES:
            raise ConfigError(f"unknown mode {self.mode!r}; known: {', '.join(MODES)}")
        if self.metric not in METRICS:
            raise ConfigError(f"unknown metric {self.metric!r}; known: {', '.join(METRICS)}")
        for name in ("epochs", "batch_size"):
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
        if self.mode == "none" and self.beta != 0:
            raise ConfigError(
                "mode 'none' means plain cross-entropy: use beta 0 or mode local/global"
            )
        takes = self.family.objectives
        if takes is not None and self.objective not in takes:
            raise ConfigError(
                f"{self.model} models train with the {', '.join(takes)} objective, not "
                f"{self.objective}"
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
        """The data set's defaults, overridden by the options that are not None. A data set's
        default for a parameter the chosen family does not take is left out."""
        given = {k: v for k, v in options.items() if v is not None}
        preset = given.get("preset")
        if preset is not None and preset not in PRESETS:
            raise ConfigError(f"unknown preset {preset!r}; known: {', '.join(PRESETS)}")
        from_preset = (
            {**PRESETS[preset], **PRESET_DATASET_DEFAULTS.get((preset, dataset), {})}
            if preset is not None
            else {}
        )
        chosen = {**from_preset, **given}
        family = FAMILIES.get(
            _family_name(chosen.get("model"), {k: v for k, v in chosen.items() if k != "model"})
        )
        takes = set(family.params_type.model_fields) | _GENERIC
        data_defaults = {k: v for k, v in DATASET_DEFAULTS.get(dataset, {}).items() if k in takes}
        merged = {**data_defaults, **chosen}
        merged = {**family.defaults(merged), **merged}
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
        """What checkpoints store: a built-in family's config in the flat fields it had before
        families existed (so stored configs and hashes are as they were); another family's
        as `model` and `model_params`."""
        d = {k: v for k, v in asdict(self).items() if k not in ("model", "model_params")}
        legacy = self.family.legacy_fields(self.params)
        if legacy is None:
            return {**d, "model": self.model, "model_params": dict(self.model_params)}
        flat = {**d, **LEGACY_MODEL_FIELDS, **legacy}
        return {k: flat[k] for k in _ORDER}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        known = _GENERIC | {"model", "model_params"} | set(LEGACY_MODEL_FIELDS)
        unknown = set(data) - known
        if unknown:
            raise ConfigError(f"unknown training keys: {', '.join(sorted(unknown))}")
        return cls(**data)

    def config_hash(self) -> str:
        """Content hash of the normalised config (floats as JSON numbers, so 1 == 1.0)."""
        d = self.normalised().to_dict()
        if is_user_data(self.dataset):  # a user's data is named by its content, not its path
            d["dataset"] = user_data_identity(self.dataset)
        for key, default in _HASHED_IF_SET.items():
            if key in d and d[key] == default:
                del d[key]
        for key in ("beta", "alpha", "k", "lr"):
            d[key] = float(d[key])
        return sha256_bytes(canonical_json(d).encode())


_GENERIC = {f.name for f in fields(TrainConfig)} - {"model", "model_params"}
