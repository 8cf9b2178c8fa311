"""Cached model-level check records: one JSON per (checkpoint, set of attack records, seed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lilbench import store
from lilbench.attacks.model_checks import model_checks, worst_case
from lilbench.data import load_dataset
from lilbench.io import (
    canonical_json,
    get_or_compute,
    sha256_bytes,
)
from lilbench.results.records import (
    Cached,
    check_request,
    check_weights,
    read_json_record,
    versions,
)
from lilbench.schemas import AttackRecord, ChecksRecord
from lilbench.store import lock_path
from lilbench.training.checkpoint import Checkpoint, load_model


def _checks_key(records: dict[str, AttackRecord], seed: int, weights: str | None) -> str:
    # The records' labels and creation stamps identify the exact attack results checked.
    ident: dict[str, object] = {
        "attacks": sorted((label, rec.created) for label, rec in records.items()),
        "seed": seed,
        "weights": weights,
    }
    rules = sorted({rec.rule for rec in records.values() if rec.rule})
    if rules:  # records of the per-image rule (or migrated to it) are other results
        ident["rules"] = rules
    return sha256_bytes(canonical_json(ident).encode())


def checks_path(
    runs_dir: Path, ckpt: Checkpoint, records: dict[str, AttackRecord], seed: int
) -> Path:
    key = _checks_key(records, seed, ckpt.tensors_sha256)
    return store.checks_record_path(runs_dir, ckpt.config_hash, key)


def find_checks(
    runs_dir: Path,
    ckpt: Checkpoint,
    records: dict[str, AttackRecord],
    seed: int,
    *,
    limit: int | None,
    fix: str = "--force",
) -> ChecksRecord | None:
    """The model-check record of these weights and attack records, adopting a layout-1 one."""
    path = checks_path(runs_dir, ckpt, records, seed)
    legacy_weights = ckpt.meta.get("weights_sha256")
    if not path.exists() and legacy_weights:
        legacy_key = _checks_key(records, seed, legacy_weights)
        legacy = store.checks_record_path(runs_dir, ckpt.config_hash, legacy_key)

        def update(rec: dict[str, Any]) -> dict[str, Any] | None:
            if rec.get("kind") != "model-checks":
                return None
            return {**rec, "tensors_sha256": ckpt.tensors_sha256}

        store.adopt_legacy(path, legacy, update)
    record = read_json_record(path, ChecksRecord, fix=fix)
    if record is not None:
        check_weights(path, record.tensors_sha256, ckpt, fix=fix)
        fields: dict[str, tuple[Any, Any]] = {}
        if record.attacks is not None:
            fields["attacks"] = (record.attacks, sorted(records))
        if record.seed is not None:  # stored since the request check; earlier records lack it
            fields["seed"] = (record.seed, seed)
        if record.samples is not None:
            fields["test limit"] = (record.samples.limit, limit)
        check_request(path, fields, fix=fix)
    return record


def ensure_model_checks(
    ckpt: Checkpoint,
    records: dict[str, AttackRecord],
    *,
    runs_dir: Path,
    data_dir: Path | None,
    limit: int | None,
    seed: int,
    force: bool = False,
) -> Cached[ChecksRecord]:
    path = checks_path(runs_dir, ckpt, records, seed)

    def compute() -> ChecksRecord:
        config = ckpt.config
        data = load_dataset(config.dataset, data_dir=data_dir, seed=config.seed)
        model = load_model(ckpt.path, input_dim=data.input_dim)
        checks = model_checks(
            model,
            data.x_test[:limit],
            data.y_test[:limit],
            records,
            num_classes=data.num_classes,
            seed=seed,
        )
        record = {
            "schema": 1,
            "kind": "model-checks",
            "checkpoint": str(ckpt.path),
            "tensors_sha256": ckpt.tensors_sha256,
            "attacks": sorted(records),
            "seed": seed,
            "samples": {"split": "test", "limit": limit, "n": len(data.y_test[:limit])},
            "checks": [c.to_dict() for c in checks],
            "passed": all(c.passed for c in checks),
            "worst_case": {
                f"{e:g}": {"correct": c, "n": n, "attacks": a}
                for e, (c, n, a) in worst_case(records).items()
            },
            "versions": versions(),
        }
        store.write_record(path, record)
        return ChecksRecord.model_validate(record)

    lock = lock_path(runs_dir, path)
    load = lambda: find_checks(runs_dir, ckpt, records, seed, limit=limit)  # noqa: E731
    record, reused = get_or_compute(load, compute, lock=lock, force=force)
    return Cached(record, path, reused)
