"""Cached model-level check records: one JSON per (checkpoint, set of attack records, seed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lilbench.attacks.model_checks import model_checks, worst_case
from lilbench.data import load_dataset
from lilbench.io import (
    canonical_json,
    get_or_compute,
    lock_path,
    sha256_bytes,
    write_json_atomic,
)
from lilbench.results.records import load_record, versions
from lilbench.training.checkpoint import Checkpoint, load_model


def checks_path(
    runs_dir: Path, ckpt: Checkpoint, records: dict[str, dict[str, Any]], seed: int
) -> Path:
    # The records' labels and creation stamps identify the exact attack results checked.
    ident = {
        "attacks": sorted((label, rec["created"]) for label, rec in records.items()),
        "seed": seed,
        "weights": ckpt.meta.get("weights_sha256"),
    }
    key = sha256_bytes(canonical_json(ident).encode())[:16]
    return runs_dir / "checks" / ckpt.config_hash[:16] / f"model-checks-{key}.json"


def ensure_model_checks(
    ckpt: Checkpoint,
    records: dict[str, dict[str, Any]],
    *,
    runs_dir: Path,
    data_dir: Path | None,
    limit: int | None,
    seed: int,
    force: bool = False,
) -> dict[str, Any]:
    path = checks_path(runs_dir, ckpt, records, seed)

    def compute() -> dict[str, Any]:
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
            "attacks": sorted(records),
            "checks": [c.to_dict() for c in checks],
            "passed": all(c.passed for c in checks),
            "worst_case": {
                f"{e:g}": {"correct": c, "n": n, "attacks": a}
                for e, (c, n, a) in worst_case(records).items()
            },
            "versions": versions(),
        }
        write_json_atomic(path, record)
        return record

    lock = lock_path(runs_dir, path)
    return get_or_compute(lambda: load_record(path), compute, lock=lock, force=force)[0]
