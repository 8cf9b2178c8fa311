"""Typed values from fields: one reading of a field's type, shared by the suites' YAML, the
Python API and the attack commands' options; and the public parser of an attack entry.

Torch-free: suites and `--help` read attack declarations without torch or ART.
"""

from __future__ import annotations

import math
import types
import typing
from dataclasses import fields
from typing import Any

from lilbench.attacks.base import ATTACKS, AttackSpec
from lilbench.attacks.grids import check_distinct, parse_grid
from lilbench.errors import ConfigError

KINDS = ("bool", "int", "float", "str", "floats")


def field_kind(hint: Any) -> tuple[str, bool]:
    """(kind, optional) of a resolved type hint: kind is one of KINDS ("floats": a tuple of
    numbers, which takes a list or a START:STOP:NUM grid)."""
    args = typing.get_args(hint)
    optional = type(None) in args
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        hint = next(a for a in args if a is not type(None))
    if typing.get_origin(hint) is tuple:
        return "floats", optional
    if hint in (bool, int, float, str):
        return hint.__name__, optional
    return "str", optional  # Literal[...] and other named choices


def field_kinds(cls: type) -> dict[str, tuple[str, bool]]:
    """Every dataclass field of `cls` with its kind."""
    hints = typing.get_type_hints(cls)
    return {f.name: field_kind(hints[f.name]) for f in fields(cls)}


def number_list(key: str, value: Any) -> tuple[float, ...]:
    """Numbers and 'START:STOP:NUM' log-grid strings, alone or mixed in a list; a list that
    mixes in a grid is sorted and de-duplicated."""
    items = value if isinstance(value, list) else [value]
    if not items:
        raise ConfigError(f"{key}: expected a list of numbers or a START:STOP:NUM string")
    out: list[float] = []
    for v in items:
        if isinstance(v, str):
            try:
                # ranges are the spec's to check (an L2 radius or a beta may exceed 1)
                out.extend(parse_grid(v, what=key, unit=False))
            except ConfigError as exc:
                raise ConfigError(f"{key}: {exc}") from None
        elif isinstance(v, int | float) and not isinstance(v, bool):
            if not math.isfinite(v):
                raise ConfigError(f"{key}: expected finite numbers, got {v!r}")
            out.append(float(v))
        else:
            raise ConfigError(f"{key}: expected numbers or START:STOP:NUM strings, got {v!r}")
    if any(isinstance(v, str) for v in items) and len(items) > 1:
        out = sorted(set(out))
    return check_distinct(tuple(out), what=key)


def coerce(key: str, kind: str, value: Any, *, optional: bool = False) -> Any:
    """A YAML/JSON value read as a field of this kind; a wrong type is one line naming `key`."""
    if value is None and optional:
        return None
    if kind == "floats":
        return number_list(key, value)
    if kind == "bool":
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true or false, got {value!r}")
        return value
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        return value
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        if not math.isfinite(value):
            raise ConfigError(f"{key}: expected a finite number, got {value!r}")
        return float(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)  # `norm: 2` in YAML names the choice "2"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # `norm: 2.0` names it as `norm: 2` does
    if not isinstance(value, str):
        raise ConfigError(f"{key}: expected a string, got {value!r}")
    return value


def parse_attack(entry: Any, *, where: str = "attack") -> AttackSpec:
    """An attack as the API and the suites take it: a registered name, a mapping with a
    `name` and the class's fields ({"name": "pgd", "eps": [0.1]}), or a spec; validated."""
    if isinstance(entry, AttackSpec):
        try:
            return entry.validate()
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None
    if isinstance(entry, str):
        entry = {"name": entry}
    if not isinstance(entry, dict) or "name" not in entry:
        raise ConfigError(f"{where}: expected a mapping with a 'name'")
    name = str(entry["name"])
    if name not in ATTACKS:
        raise ConfigError(f"{where}.name: {ATTACKS.unknown(name)}")
    cls = ATTACKS.get(name)
    kinds = field_kinds(cls)
    kwargs: dict[str, Any] = {}
    for key, value in entry.items():
        if key == "name":
            continue
        if key not in kinds:
            raise ConfigError(f"{where}.{key}: unknown key; {cls.name} takes {sorted(kinds)}")
        kind, optional = kinds[key]
        # Floats given as YAML tuples: a value of None is kept only where the field allows it.
        kwargs[key] = coerce(f"{where}.{key}", kind, value, optional=optional and kind == "floats")
    try:
        return cls.from_options(**kwargs)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
