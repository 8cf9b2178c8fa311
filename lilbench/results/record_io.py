"""What every kind of record shares: the schema version, the software versions a record
names, atomic writes, reading a file back against its schema (a malformed one is one line,
never a wrong number), and the checks that a record serves only the weights and the request
it was computed for."""

from __future__ import annotations

import json
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import numpy as np
from pydantic import ValidationError

from lilbench import store
from lilbench.errors import RecordError
from lilbench.io import canonical_json
from lilbench.schemas import RecordModel
from lilbench.training.checkpoint import Checkpoint
from lilbench.version import __version__

SCHEMA = 2  # 2: keyed by the weights' tensor hash (1: by the weights file's SHA-256)


def _art_version() -> str:
    """ART's version from its installed metadata: the same string as `art.__version__`,
    without importing ART (2 s) in a process that only reads records."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("adversarial-robustness-toolbox")
    except PackageNotFoundError:  # an ART installed without metadata
        import art

        return str(art.__version__)


def versions() -> dict[str, str]:
    import torch  # its own version string (the local build's tag included)

    return {
        "lilbench": __version__,
        "art": _art_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


def save_record(path: Path, record: dict[str, Any]) -> None:
    store.write_record(path, record)


R = TypeVar("R", bound=RecordModel)


@dataclass(frozen=True)
class Cached(Generic[R]):
    """What every get-or-compute of a record returns: the typed record, where it is stored,
    and whether it was reused."""

    record: R
    path: Path
    reused: bool


def read_json_record(path: Path, schema: type[R], *, fix: str) -> R | None:
    """A record file validated against its schema; None when there is none. A malformed one
    is an error naming the file and `fix` (what to do), never a traceback or a wrong number."""
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise RecordError(
            f"{path} is not valid JSON; delete it, or recompute it with {fix}"
        ) from exc
    try:
        return schema.model_validate(record)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "the record"
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise RecordError(
            f"{path} is not a valid {schema.__name__} ({where}: {first['msg']}{more}); "
            f"delete it, or recompute it with {fix}"
        ) from exc


def check_weights(path: Path, named: object, ckpt: Checkpoint, *, fix: str) -> None:
    """A record read back must name the tensor hash of the weights it is served for."""
    if named != ckpt.tensors_sha256:
        raise RecordError(
            f"{path} was computed on other weights than {ckpt.path} holds; delete it, or "
            f"recompute it with {fix}"
        )


def check_request(path: Path, fields: dict[str, tuple[Any, Any]], *, fix: str) -> None:
    """A record read back must have been computed for what is asked now: `fields` maps a
    name to (what the record stores, what is asked). The key hash should already ensure it;
    this catches a field that a key function leaves out, before a result is served for a
    request it was not computed for."""
    for name, (stored, asked) in fields.items():
        if canonical_json(stored) != canonical_json(asked):
            raise RecordError(
                f"{path} was computed with {name} {canonical_json(stored)}, but "
                f"{canonical_json(asked)} is asked for under the same key; delete it, or "
                f"recompute it with {fix}"
            )


def stored_request(
    record: RecordModel, params: dict[str, Any], dataset_checksum: str
) -> dict[str, tuple[Any, Any]]:
    """The settings and data set a topology or diagnostic record stored, beside the request's
    (only the fields the record has: no earlier record is refused for lacking one)."""
    stored = record.model_extra or {}
    fields: dict[str, tuple[Any, Any]] = {}
    if "params" in stored:
        fields["settings"] = (stored["params"], params)
    dataset = stored.get("dataset")
    if isinstance(dataset, dict) and "checksum" in dataset:
        fields["data set"] = (dataset["checksum"], dataset_checksum)
    return fields


def canonical_params(params: dict[str, Any]) -> Any:
    """Parameters as a record stores them (tuples are lists once written as JSON)."""
    return json.loads(canonical_json(params))
