"""A suite's settings: `betas:` (the LIL grid), `methods:` (objectives with parameter grids)
and `models:` (models lilbench did not train), each parsed into `Setting`s."""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any

from lilbench.errors import ConfigError
from lilbench.models.external_files import sniff_model_file
from lilbench.objectives import OBJECTIVES, parse_params
from lilbench.suites.model import ExternalEntry, Setting
from lilbench.training.config import TrainConfig

# model options a method entry may set (activation: a value or a list, a grid like the rest);
# the rest of a method entry: the objective's parameter grids
METHOD_KEYS = {"objective", "spectral_norm", "activation"}


def fail(path: Path, key: str, msg: str) -> ConfigError:
    """The one-line error for a suite key: the file, the key, what is wrong."""
    return ConfigError(f"{path}: {key}: {msg}")


def methods(path: Path, value: Any, *, dataset: str) -> tuple[Setting, ...]:
    """Each entry: an objective, optionally `spectral_norm`, and its parameters, each a value
    or a list (a grid; several lists give their product)."""
    if not isinstance(value, list) or not value:
        raise fail(path, "methods", "expected a non-empty list of {objective: NAME, ...}")
    settings: list[Setting] = []
    for i, entry in enumerate(value):
        where = f"methods[{i}]"
        if not isinstance(entry, dict) or "objective" not in entry:
            raise fail(path, where, "expected a mapping with an 'objective'")
        name = entry["objective"]
        if not isinstance(name, str) or name not in OBJECTIVES:
            raise fail(path, f"{where}.objective", OBJECTIVES.unknown(str(name)))
        cls = OBJECTIVES.get(name)
        sn = entry.get("spectral_norm", False)
        if not isinstance(sn, bool):
            raise fail(path, f"{where}.spectral_norm", f"expected true or false, got {sn!r}")
        acts = entry.get("activation", [None])
        acts = acts if isinstance(acts, list) else [acts]
        if not acts or not all(a is None or isinstance(a, str) for a in acts):
            raise fail(path, f"{where}.activation", "expected a name or a list of names")
        grids: list[list[tuple[str, Any]]] = [[("activation", a) for a in acts]]
        for key, v in entry.items():
            if key in METHOD_KEYS:
                continue
            if key not in cls.params_type.model_fields:
                known = ", ".join([*cls.params_type.model_fields, *sorted(METHOD_KEYS)])
                raise fail(path, f"{where}.{key}", f"unknown key for {name}; known: {known}")
            values = v if isinstance(v, list) else [v]
            if not values:
                raise fail(path, f"{where}.{key}", "empty list")
            grids.append([(key, x) for x in values])
        for combo in itertools.product(*grids):
            params = dict(combo)
            act = params.pop("activation")
            try:
                parsed = parse_params(cls, params)
            except ConfigError as exc:
                raise fail(path, where, str(exc)) from None
            overrides: dict[str, Any] = {"objective": name} if name != "lil" else {}
            if name == "lil":
                overrides.update(parsed.model_dump(include=set(params)))
            elif params:
                overrides["objective_params"] = parsed.model_dump(include=set(params))
            if sn:
                overrides["spectral_norm"] = True
            if act is not None and act != "tanh":  # tanh, the default, adds no key
                overrides["activation"] = act
            try:
                config = TrainConfig.for_dataset(dataset, **overrides).validate()
            except ConfigError as exc:
                raise fail(path, where, str(exc)) from None
            beta = float(overrides.get("beta", 0.0))
            settings.append(Setting(config.label(), tuple(sorted(overrides.items())), beta))
    return tuple(settings)


def external_models(path: Path, value: Any) -> tuple[Setting, ...]:
    """`models:` entries, each {name, file} or {name, factory, weights}; paths are relative
    to the suite file. Checked here (files exist, names unique); loaded when the suite runs."""
    if value is None:
        return ()
    if not isinstance(value, list) or not value:
        raise fail(path, "models", "expected a list of {name, file} or {name, factory, weights}")
    out = []
    for i, entry in enumerate(value):
        where = f"models[{i}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise fail(path, where, "expected a mapping with a 'name'")
        extra = set(entry) - {"name", "file", "factory", "weights"}
        if extra:
            raise fail(
                path,
                f"{where}.{sorted(extra)[0]}",
                "unknown key; known: name, file, factory, weights",
            )
        if ("file" in entry) == ("factory" in entry):
            raise fail(path, where, "give a file (.pt2 or TorchScript) or a factory with weights")
        weights = None
        if "file" in entry:
            model = str(path.parent / str(entry["file"]))
            if not Path(model).is_file():
                raise fail(path, f"{where}.file", f"no such file: {model}")
            sniff_model_file(Path(model), what=f"{path}: {where}.file")
        else:
            model = str(entry["factory"])
            if not re.match(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$", model) or "weights" not in entry:
                raise fail(path, where, "a factory is package.module:function, with weights")
            weights = path.parent / str(entry["weights"])
            if not weights.is_file():
                raise fail(path, f"{where}.weights", f"no such file: {weights}")
        ext = ExternalEntry(entry["name"], model, weights)
        out.append(Setting(entry["name"], (("external", ext),), 0.0))
    return tuple(out)
