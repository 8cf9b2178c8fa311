"""Diagnostics-or-reuse: what a report computes from a model's weights (the mechanism's
gradient norms and Lipschitz estimates, the clean predictions' correctness per image),
cached in the runs directory like topology, so that writing a report loads no checkpoint
when the records are there.

    <runs>/diagnostics/<config hash[:16]>/<kind>-<key[:16]>.json

keyed by the weights' tensor hash, the data set's checksum, the diagnostic's kind and its
settings: a record is only served for exactly the weights and settings it was computed on.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from lilbench import store
from lilbench.data import Dataset, load_dataset
from lilbench.errors import RecordError
from lilbench.io import canonical_json, get_or_compute, sha256_bytes
from lilbench.results.records import check_request, stored_request
from lilbench.schemas import DiagnosticRecord
from lilbench.training.checkpoint import Checkpoint, load_model

SCHEMA = 1
FOLDER = "diagnostics"

Compute = Callable[[Any, Dataset], dict[str, Any]]  # (model, data) -> named JSON values


def record_path(
    runs_dir: Path, ckpt: Checkpoint, data: Dataset, kind: str, params: dict[str, Any]
) -> Path:
    ident = {
        "weights": ckpt.tensors_sha256,
        "dataset": data.checksum,
        "kind": kind,
        "params": params,
        "schema": SCHEMA,
    }
    key = sha256_bytes(canonical_json(ident).encode())
    return runs_dir / FOLDER / ckpt.config_hash[:16] / f"{kind}-{key[:16]}.json"


_FIX = "the command that made it, after deleting it"


def _load(
    path: Path, ckpt: Checkpoint, kind: str, data: Dataset, params: dict[str, Any]
) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        rec = DiagnosticRecord.model_validate_json(path.read_text())
    except (OSError, ValidationError):
        raise RecordError(f"{path} is not a readable {kind} record; delete it") from None
    if rec.schema_ != SCHEMA or rec.kind != kind:
        raise RecordError(f"{path} has an unknown layout; delete it")
    if rec.weights != ckpt.tensors_sha256:
        raise RecordError(f"{path} was computed on other weights than {ckpt.path}; delete it")
    check_request(path, stored_request(rec, params, data.checksum), fix=_FIX)
    return dict(rec.values)


def find_diagnostic(
    ckpt: Checkpoint,
    kind: str,
    params: dict[str, Any],
    *,
    runs_dir: Path,
    data_dir: Path | None = None,
) -> dict[str, Any] | None:
    """The named values of a diagnostic if they are recorded for these weights and settings;
    None (computing nothing) if not."""
    data = load_dataset(ckpt.config.dataset, data_dir=data_dir, seed=ckpt.config.seed)
    return _load(record_path(runs_dir, ckpt, data, kind, params), ckpt, kind, data, params)


def ensure_diagnostic(
    ckpt: Checkpoint,
    kind: str,
    params: dict[str, Any],
    compute: Compute,
    *,
    runs_dir: Path | None,
    data_dir: Path | None = None,
) -> dict[str, Any]:
    """The named values of one diagnostic of one model: reused when cached for these weights
    and settings, else computed from the model (and stored when there is a runs directory)."""
    cfg = ckpt.config
    data = load_dataset(cfg.dataset, data_dir=data_dir, seed=cfg.seed)

    def run() -> dict[str, Any]:
        model = load_model(ckpt.path, input_dim=data.input_dim)
        return dict(compute(model, data))

    if runs_dir is None:
        return run()
    path = record_path(runs_dir, ckpt, data, kind, params)

    def compute_and_store() -> dict[str, Any]:
        start = time.perf_counter()
        values = run()
        store.write_record(
            path,
            {
                "schema": SCHEMA,
                "kind": kind,
                "weights": ckpt.tensors_sha256,
                "dataset": {"name": data.name, "checksum": data.checksum},
                "params": params,
                "seconds": time.perf_counter() - start,
                "values": values,
            },
        )
        return values

    lock = store.lock_path(runs_dir, path)
    values, _ = get_or_compute(
        lambda: _load(path, ckpt, kind, data, params), compute_and_store, lock=lock
    )
    return values


def measured(
    ckpt: Checkpoint,
    kind: str,
    *,
    runs_dir: Path | None,
    data_dir: Path | None = None,
    compute: bool = True,
) -> dict[str, Any] | None:
    """The values of a registered measure (`lilbench.measures`) for one model: its record
    when cached, else computed and stored (`compute` False: None when not cached)."""
    from lilbench.measures import MEASURES

    measure = MEASURES.get(kind)
    if not compute:
        if runs_dir is None:
            return None
        return find_diagnostic(ckpt, kind, measure.params, runs_dir=runs_dir, data_dir=data_dir)
    return ensure_diagnostic(
        ckpt, kind, measure.params, measure.compute, runs_dir=runs_dir, data_dir=data_dir
    )
