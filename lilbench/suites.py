"""Suites: YAML files that name a data set, training settings, betas, seeds and attacks.

Validated up front; every error names the file and the key.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import yaml

from lilbench.attacks.grids import parse_grid
from lilbench.attacks.specs import ATTACKS, AttackSpec, attack_class
from lilbench.errors import ConfigError, LilbenchError
from lilbench.io import sha256_file
from lilbench.training.config import TrainConfig

TOP_KEYS = {
    "name",
    "description",
    "dataset",
    "train",
    "betas",
    "seeds",
    "test_limit",
    "attacks",
    "inspect",
    "model_checks",
}
TRAIN_KEYS = {f.name for f in fields(TrainConfig)} - {"dataset", "beta", "seed"}


@dataclass(frozen=True)
class Suite:
    name: str
    path: Path
    file_sha256: str
    description: str
    dataset: str
    train: dict[str, Any]
    betas: tuple[float, ...]
    seeds: tuple[int, ...]
    test_limit: int | None
    attacks: tuple[AttackSpec, ...]
    inspect: bool = False  # representation diagnostics in the report
    model_checks: bool = False  # the cross-attack and model-level sanity checks

    def train_config(self, beta: float, seed: int) -> TrainConfig:
        return TrainConfig.for_dataset(self.dataset, beta=beta, seed=seed, **self.train)


def _fail(path: Path, key: str, msg: str) -> ConfigError:
    return ConfigError(f"{path}: {key}: {msg}")


def _number_list(path: Path, key: str, value: Any) -> tuple[float, ...]:
    """Numbers and 'START:STOP:NUM' log-grid strings, alone or mixed in a list; a list that
    mixes in a grid is sorted and de-duplicated."""
    items = value if isinstance(value, list) else [value]
    if not items:
        raise _fail(path, key, "expected a list of numbers or a START:STOP:NUM string")
    out: list[float] = []
    for v in items:
        if isinstance(v, str):
            try:
                out.extend(parse_grid(v, what=key))
            except ConfigError as exc:
                raise _fail(path, key, str(exc)) from None
        elif isinstance(v, int | float) and not isinstance(v, bool):
            out.append(float(v))
        else:
            raise _fail(path, key, f"expected numbers or START:STOP:NUM strings, got {v!r}")
    if any(isinstance(v, str) for v in items) and len(items) > 1:
        out = sorted(set(out))
    return tuple(out)


def _attack(path: Path, i: int, entry: Any) -> AttackSpec:
    where = f"attacks[{i}]"
    if not isinstance(entry, dict) or "name" not in entry:
        raise _fail(path, where, "expected a mapping with a 'name'")
    try:
        cls = attack_class(str(entry["name"]))
    except ConfigError as exc:
        raise _fail(path, f"{where}.name", str(exc)) from None
    allowed = {f.name for f in fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in entry.items():
        if key == "name":
            continue
        if key not in allowed:
            raise _fail(path, f"{where}.{key}", f"unknown key; {cls.name} takes {sorted(allowed)}")
        if key in ("eps", "step"):
            kwargs[key] = None if value is None else _number_list(path, f"{where}.{key}", value)
        elif key in ("objective", "loss"):
            kwargs[key] = str(value)
        elif key == "paper_faithful":
            if not isinstance(value, bool):
                raise _fail(path, f"{where}.{key}", f"expected true or false, got {value!r}")
            kwargs[key] = value
        elif key in ("steps", "restarts", "batch_size", "max_iter"):
            if isinstance(value, bool) or not isinstance(value, int):
                raise _fail(path, f"{where}.{key}", f"expected an integer, got {value!r}")
            kwargs[key] = value
        else:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise _fail(path, f"{where}.{key}", f"expected a number, got {value!r}")
            kwargs[key] = float(value)
    if cls.name == "pgd" and "step" not in kwargs and len(kwargs.get("eps", (0.5,))) > 1:
        kwargs["step"] = None  # several eps and no step sizes: the eps sweep
    try:
        return cls(**kwargs).validate()
    except ConfigError as exc:
        raise _fail(path, where, str(exc)) from None


def load_suite(path: Path) -> Suite:
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise LilbenchError(f"no suite file at {path}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    for key in raw:
        if key not in TOP_KEYS:
            raise _fail(path, str(key), f"unknown key; known: {', '.join(sorted(TOP_KEYS))}")
    for key in ("name", "betas"):
        if key not in raw:
            raise _fail(path, key, "missing")
    train = raw.get("train") or {}
    if not isinstance(train, dict):
        raise _fail(path, "train", "expected a mapping")
    for key in train:
        if key not in TRAIN_KEYS:
            raise _fail(
                path, f"train.{key}", f"unknown key; known: {', '.join(sorted(TRAIN_KEYS))}"
            )
    betas = _number_list(path, "betas", raw["betas"])
    if any(b < 0 for b in betas):
        raise _fail(path, "betas", f"beta must be >= 0, got {min(betas):g}")
    seeds = raw.get("seeds", [0])
    if (
        not isinstance(seeds, list)
        or not seeds
        or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds)
    ):
        raise _fail(path, "seeds", "expected a non-empty list of integers")
    test_limit = raw.get("test_limit")
    if test_limit is not None and (not isinstance(test_limit, int) or test_limit < 1):
        raise _fail(path, "test_limit", f"expected a positive integer, got {test_limit!r}")
    attacks = raw.get("attacks", [])
    if not isinstance(attacks, list):
        raise _fail(path, "attacks", f"expected a list of attacks ({', '.join(ATTACKS)})")
    flags = {key: raw.get(key, False) for key in ("inspect", "model_checks")}
    for key, value in flags.items():
        if not isinstance(value, bool):
            raise _fail(path, key, f"expected true or false, got {value!r}")
    suite = Suite(
        name=str(raw["name"]),
        path=path,
        file_sha256=sha256_file(path),
        description=str(raw.get("description", "")),
        dataset=str(raw.get("dataset", "mnist")),
        train=dict(train),
        betas=betas,
        seeds=tuple(seeds),
        test_limit=test_limit,
        attacks=tuple(_attack(path, i, a) for i, a in enumerate(attacks)),
        inspect=flags["inspect"],
        model_checks=flags["model_checks"],
    )
    labels = [a.label for a in suite.attacks]
    for label in labels:
        if labels.count(label) > 1:
            raise _fail(path, "attacks", f"two attacks are both {label!r}; keep one")
    try:
        for beta in betas:
            suite.train_config(beta, seeds[0]).validate()
    except (ConfigError, TypeError) as exc:
        raise _fail(path, "train", str(exc)) from None
    return suite
