"""Reading a registered plugin's parameters (a model family's, an objective's) from CLI or
YAML values into its pydantic model: one reading, one-line errors naming the key."""

from __future__ import annotations

import difflib
import typing
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from lilbench.errors import ConfigError

P = TypeVar("P", bound=BaseModel)
# (pydantic's first error, the key it names) -> a sentence, or None for the generic one
Explain = Callable[[dict[str, Any], str], str | None]


def parse_params(
    params_type: type[P], values: dict[str, Any], *, owner: str, explain: Explain
) -> P:
    """`values` validated as `params_type`. YAML and JSON give ints for whole floats (eps: 1):
    they are accepted where a float is meant. `explain` words the errors its owner words
    itself; any other is "OWNER: KEY: pydantic's message (got VALUE)"."""
    fixed = {
        k: float(v)
        if isinstance(v, int) and not isinstance(v, bool) and takes_float(params_type, k)
        else v
        for k, v in values.items()
    }
    try:
        return params_type(**fixed)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(p) for p in first["loc"]) or "parameters"
        e: dict[str, Any] = dict(first)
        said = explain(e, key)
        if said is None:
            said = f"{owner}: {key}: {e['msg']} (got {e.get('input')!r})"
        raise ConfigError(said) from None


def takes_float(params_type: type[BaseModel], key: str) -> bool:
    field = params_type.model_fields.get(key)
    return field is not None and (
        field.annotation is float or float in typing.get_args(field.annotation)
    )


def known_keys(params_type: type[BaseModel]) -> str:
    return ", ".join(params_type.model_fields) or "none"


def unknown_key(key: str, known: Iterable[str]) -> str:
    """'unknown key X; did you mean Y? (known: ...)': the one wording for a misspelt key."""
    names = list(known)
    close = difflib.get_close_matches(key, names, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"unknown key {key!r}{hint} (known: {', '.join(names) or 'none'})"


def check_keys(values: dict[str, Any], known: Iterable[str], *, where: str) -> None:
    """Refuse the first key of `values` that is not `known`, named with a suggestion."""
    names = tuple(known)
    for key in values:
        if key not in names:
            raise ConfigError(f"{where}: {unknown_key(str(key), names)}")


def first_error(exc: ValidationError, known: Callable[[tuple[Any, ...]], Iterable[str]]) -> str:
    """Pydantic's first error as 'KEY.PATH: message (got VALUE)'; an extra key is named with
    a suggestion from `known(parent location)`."""
    first = exc.errors()[0]
    loc = tuple(first["loc"])
    where = ".".join(str(p) for p in loc) or "the file"
    if first["type"] == "extra_forbidden":
        return f"{where}: {unknown_key(str(loc[-1]), known(loc[:-1]))}"
    return f"{where}: {first['msg']} (got {first.get('input')!r})"
