"""One parser per top-level key of a suite file. Each takes the file's raw mapping and returns
the `Suite` fields it sets; `PARSERS` lists them in the order their errors are reported, and
the keys a suite may have are theirs (`TOP_KEYS`)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lilbench.attacks import ATTACKS, AttackSpec
from lilbench.attacks.parse import coerce, field_kind, field_kinds, number_list, parse_attack
from lilbench.certify.smoothing import DEFAULT_RADII, SmoothingSpec
from lilbench.certify.spec import CertifySpec
from lilbench.data import declared_shape, known_dataset, user_files
from lilbench.data.noise import CorruptionSpec, NoiseSpec
from lilbench.errors import ConfigError, LilbenchError
from lilbench.models.families import FAMILIES
from lilbench.params import check_keys
from lilbench.suites.model import Setting, SmoothingScope
from lilbench.suites.settings import external_models, fail, methods
from lilbench.threats import keys as norm_keys
from lilbench.training.config import LIL_KEYS, TrainConfig

DEFAULT_DATASET = "mnist"
SUITE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
FLAGS = ("inspect", "model_checks", "mechanism", "topology", "geometry")
PER_METHOD = {"dataset", "seed", "objective", "objective_params", "spectral_norm", *LIL_KEYS}


def _train_key_types() -> dict[str, tuple[str, bool]]:
    """Every key a suite's `train:` takes, with its value's kind: TrainConfig's own fields and
    every model family's parameters (and the flags that choose a family)."""
    kinds = {k: v for k, v in field_kinds(TrainConfig).items() if k != "model_params"}
    for _, family in FAMILIES.items():
        for key, field in family.params_type.model_fields.items():
            kinds[key] = field_kind(field.annotation)
        if family.selected_by is not None and family.selected_by not in kinds:
            kinds[family.selected_by] = ("bool", False)
    return kinds


TRAIN_TYPES = _train_key_types()
TRAIN_KEYS = set(TRAIN_TYPES) - PER_METHOD | {"alpha", "mode", "k", "metric"}


@dataclass(frozen=True)
class Raw:
    """A suite file's top-level mapping, with what every parser needs to know of it."""

    path: Path
    data: dict[str, Any]

    @property
    def dataset(self) -> str:
        """A registered name, or a user's data (`{file: PATH}`, the path relative to the
        suite's folder) as `file:` and its absolute path."""
        value = self.data.get("dataset", DEFAULT_DATASET)
        if isinstance(value, dict):
            if set(value) != {"file"} or not isinstance(value["file"], str):
                raise fail(
                    self.path, "dataset", "expected a name, or {file: PATH} (an .npz or a folder)"
                )
            value = user_files.PREFIX + value["file"]
        if not isinstance(value, str):
            raise fail(self.path, "dataset", f"expected a name or {{file: PATH}}, got {value!r}")
        if user_files.is_user_data(value):
            path = user_files.user_path(value)
            return user_files.named(path if path.is_absolute() else self.path.parent / path)
        return value

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)


def _where(path: Path, exc: ConfigError) -> ConfigError:
    return ConfigError(f"{path}: {exc}")


def name(raw: Raw) -> dict[str, Any]:
    value = raw.get("name")
    if value is None:
        raise fail(raw.path, "name", "missing")
    if not isinstance(value, str) or not SUITE_NAME.match(value):
        raise fail(raw.path, "name", f"must be a file name (letters, digits, . _ -), got {value!r}")
    dataset = raw.dataset
    try:  # a user's data is read and checked here, before any work
        known_dataset(dataset)
        declared_shape(dataset)
    except LilbenchError as exc:
        raise fail(raw.path, "dataset", str(exc)) from None
    return {"name": value, "description": str(raw.get("description", "")), "dataset": dataset}


def train(raw: Raw) -> dict[str, Any]:
    given = raw.get("train") or {}
    if not isinstance(given, dict):
        raise fail(raw.path, "train", "expected a mapping")
    out = {}
    for key, value in given.items():
        if key not in TRAIN_KEYS:
            known = ", ".join(sorted(TRAIN_KEYS))
            raise fail(raw.path, f"train.{key}", f"unknown key; known: {known}")
        kind, optional = TRAIN_TYPES[key]
        try:
            out[key] = coerce(f"train.{key}", kind, value, optional=optional)
        except ConfigError as exc:
            raise _where(raw.path, exc) from None
    return {"train": out}


def settings(raw: Raw) -> dict[str, Any]:
    """`betas:` or `methods:`, and `models:` beside either."""
    if "betas" in raw.data and "methods" in raw.data:
        raise fail(raw.path, "betas", "give betas (the LIL grid) or methods, not both")
    if not {"betas", "methods", "models"} & set(raw.data):
        raise fail(raw.path, "betas", "give betas (the LIL grid), methods, or models")
    found: tuple[Setting, ...] = ()
    if "betas" in raw.data:
        try:
            betas = number_list("betas", raw.get("betas"))
        except ConfigError as exc:
            raise _where(raw.path, exc) from None
        if any(b < 0 for b in betas):
            raise fail(raw.path, "betas", f"beta must be >= 0, got {min(betas):g}")
        found = tuple(Setting(f"{b:g}", (("beta", b),), b) for b in betas)
    elif "methods" in raw.data:
        found = methods(raw.path, raw.get("methods"), dataset=raw.dataset)
    found += external_models(raw.path, raw.get("models"))
    return {"settings": found, "has_methods": "methods" in raw.data}


def seeds(raw: Raw) -> dict[str, Any]:
    value = raw.get("seeds", [0])
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(s, int) and not isinstance(s, bool) for s in value)
    ):
        raise fail(raw.path, "seeds", "expected a non-empty list of integers")
    return {"seeds": tuple(value)}


def test_limit(raw: Raw) -> dict[str, Any]:
    value = raw.get("test_limit")
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise fail(raw.path, "test_limit", f"expected a positive integer, got {value!r}")
    return {"test_limit": value}


def attacks(raw: Raw) -> dict[str, Any]:
    """Each entry's keys and their types come from the attack class's fields; labels unique."""
    entries = raw.get("attacks", [])
    if not isinstance(entries, list):
        known = ", ".join(ATTACKS.names())
        raise fail(raw.path, "attacks", f"expected a list of attacks ({known})")
    found: list[AttackSpec] = []
    for i, entry in enumerate(entries):
        if isinstance(entry, str):  # a suite names its attacks as mappings
            entry = ["not a mapping"]
        try:
            found.append(parse_attack(entry, where=f"attacks[{i}]"))
        except ConfigError as exc:
            raise _where(raw.path, exc) from None
    labels = [a.label for a in found]
    for label in labels:
        if labels.count(label) > 1:
            raise fail(raw.path, "attacks", f"two attacks are both {label!r}; keep one")
    return {"attacks": tuple(found)}


def certify(raw: Raw) -> dict[str, Any]:
    """One mapping, or a list of them with one norm each (L-inf and L2 certificates)."""
    if raw.get("certify") is None:
        return {"certifies": ()}
    blocks = raw.get("certify") if isinstance(raw.get("certify"), list) else [raw.get("certify")]
    found: dict[str, CertifySpec] = {}
    for i, block in enumerate(blocks):
        where = "certify" if len(blocks) == 1 else f"certify[{i}]"
        if not isinstance(block, dict):
            raise fail(raw.path, where, "expected a mapping (eps, methods, norm)")
        try:
            spec = CertifySpec.from_dict(block, where=where)
        except ConfigError as exc:
            raise _where(raw.path, exc) from None
        if spec.norm in found:
            raise fail(raw.path, where, f"a second certify block in norm {spec.norm}")
        found[spec.norm] = spec
    options = train(raw)["train"]
    config = TrainConfig.for_dataset(raw.dataset, **options)
    reason = config.family.refuses_certificates(config.params)
    if reason is not None:
        raise fail(raw.path, "certify", reason)
    return {"certifies": tuple(found[k] for k in norm_keys() if k in found)}


def flags(raw: Raw) -> dict[str, Any]:
    """The report's optional sections, true or false; `topology` may give {points: N}."""
    points, topo = 500, raw.get("topology", False)
    if isinstance(topo, dict):
        n = topo.get("points")
        if set(topo) != {"points"} or isinstance(n, bool) or not isinstance(n, int):
            raise fail(raw.path, "topology", "expected true, false or {points: N}")
        if n < 3:
            raise fail(raw.path, "topology.points", f"must be >= 3, got {n}")
        points, topo = n, True
    found = {key: topo if key == "topology" else raw.get(key, False) for key in FLAGS}
    for key, value in found.items():
        if not isinstance(value, bool):
            raise fail(raw.path, key, f"expected true or false, got {value!r}")
    if found["topology"]:
        from lilbench.topology import require

        try:
            require()
        except ConfigError as exc:
            raise fail(raw.path, "topology", str(exc)) from None
    return {**found, "topology_points": points}


def perturbations(raw: Raw) -> dict[str, Any]:
    """`noise:` and `corruptions:` (a corruption set that fits the data set's channels)."""
    found: dict[str, Any] = {"noise": None, "corruptions": None}
    for key in ("noise", "corruptions"):
        value = raw.get(key, False)
        if value is False or value is None:
            continue
        try:
            if key == "noise":
                found[key] = NoiseSpec.from_value(value)
                continue
            shape = declared_shape(raw.dataset)
            if shape is None:
                raise ConfigError(f"{raw.dataset} is not declared as images: nothing to corrupt")
            found[key] = CorruptionSpec.from_value(value, channels=shape[0])
        except ConfigError as exc:
            raise _where(raw.path, exc) from None
    return found


def smoothing(raw: Raw) -> dict[str, Any]:
    """`smoothing: {sigma: S or [S, ...], n: N, n0: N0, alpha: A, radii: [...]}`."""
    value = raw.get("smoothing")
    if value is None or value is False:
        return {"smoothings": ()}
    if not isinstance(value, dict):
        raise fail(raw.path, "smoothing", "expected {sigma: [...], n, n0, alpha, radii}")
    try:
        check_keys(
            value,
            ("sigma", "n", "n0", "alpha", "radii", "seeds", "settings", "test_limit"),
            where="smoothing",
        )
        scope = _smoothing_scope(value)
        sigmas = value.get("sigma")
        sigmas = sigmas if isinstance(sigmas, list) else [sigmas]
        if not sigmas or any(isinstance(s, bool) or not isinstance(s, int | float) for s in sigmas):
            raise ConfigError("smoothing.sigma: give one number or a list of them")
        rest: dict[str, Any] = {}
        for k in ("n", "n0", "alpha"):
            v = value.get(k)
            if v is None:
                continue
            kind = int if k != "alpha" else (int, float)
            if isinstance(v, bool) or not isinstance(v, kind):
                what = "an integer" if k != "alpha" else "a number"
                raise ConfigError(f"smoothing.{k}: expected {what}, got {v!r}")
            rest[k] = v if k != "alpha" else float(v)
        radii = value.get("radii", list(DEFAULT_RADII))
        if not isinstance(radii, list) or not radii:
            raise ConfigError("smoothing.radii: expected a non-empty list of numbers")
        specs = tuple(
            SmoothingSpec(float(s), radii=tuple(float(r) for r in radii), **rest).validate()
            for s in sorted(set(sigmas))
        )
    except (ConfigError, TypeError, ValueError) as exc:
        raise fail(raw.path, "smoothing", str(exc)) from None
    return {"smoothings": specs, "smoothing_scope": scope}


def _smoothing_scope(value: dict[str, Any]) -> SmoothingScope:
    """`seeds`, `settings` and `test_limit` under `smoothing:` (checked against the rest of
    the suite once it is read, in `load_suite`)."""
    seeds, names, limit = value.get("seeds"), value.get("settings"), value.get("test_limit")
    if seeds is not None and (
        not isinstance(seeds, list)
        or not seeds
        or any(isinstance(s, bool) or not isinstance(s, int) for s in seeds)
    ):
        raise ConfigError(f"smoothing.seeds: expected a non-empty list of integers, got {seeds!r}")
    if names is not None and (
        not isinstance(names, list) or not names or any(not isinstance(n, str) for n in names)
    ):
        raise ConfigError(
            f"smoothing.settings: expected a list of setting labels such as 'lil beta=1', "
            f"got {names!r}"
        )
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ConfigError(f"smoothing.test_limit: expected a positive integer, got {limit!r}")
    return SmoothingScope(
        seeds=None if seeds is None else tuple(seeds),
        settings=None if names is None else tuple(names),
        test_limit=limit,
    )


def device(raw: Raw) -> dict[str, Any]:
    value = raw.get("device", "cpu")
    if not isinstance(value, str) or not re.fullmatch(r"cpu|cuda(:\d+)?", value):
        raise fail(raw.path, "device", f"expected cpu, cuda or cuda:N, got {value!r}")
    return {"device": value}


Parser = Callable[[Raw], dict[str, Any]]
# (the top-level keys each reads, its parser), in the order errors are reported
PARSERS: tuple[tuple[tuple[str, ...], Parser], ...] = (
    (("name", "description", "dataset"), name),
    (("train",), train),
    (("betas", "methods", "models"), settings),
    (("seeds",), seeds),
    (("test_limit",), test_limit),
    (("attacks",), attacks),
    (("certify",), certify),
    (FLAGS, flags),
    (("noise", "corruptions"), perturbations),
    (("smoothing",), smoothing),
    (("device",), device),
)
TOP_KEYS = frozenset(key for keys, _ in PARSERS for key in keys)
