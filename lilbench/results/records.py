"""Attack result records: one JSON file per (checkpoint, attack, parameters, samples, seed).

Records are written atomically under `<runs>/attacks/<checkpoint hash[:16]>/` and reused
when the same attack is asked for again.
"""

from __future__ import annotations

import json
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import art
import numpy as np
import torch

import lilbench
from lilbench.attacks import AttackSpec
from lilbench.attacks.runner import AttackOutcome
from lilbench.errors import LilbenchError
from lilbench.io import canonical_json, sha256_bytes, write_json_atomic
from lilbench.training.checkpoint import Checkpoint

SCHEMA = 1


def versions() -> dict[str, str]:
    return {
        "lilbench": lilbench.__version__,
        "art": art.__version__,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


def attack_key(ckpt: Checkpoint, spec: AttackSpec, *, limit: int | None, seed: int) -> str:
    ident = {
        "weights": ckpt.meta["weights_sha256"],  # verified against the file on every read
        "attack": spec.params(),
        "limit": limit,
        # The seed only changes attacks that draw random numbers (random starts).
        "seed": seed if spec.uses_randomness else None,
        "schema": SCHEMA,
    }
    return sha256_bytes(canonical_json(ident).encode())


def record_path(
    runs_dir: Path, ckpt: Checkpoint, spec: AttackSpec, *, limit: int | None, seed: int
) -> Path:
    key = attack_key(ckpt, spec, limit=limit, seed=seed)
    return runs_dir / "attacks" / ckpt.config_hash[:16] / f"{spec.name}-{key[:16]}.json"


def build_record(
    ckpt: Checkpoint,
    spec: AttackSpec,
    outcome: AttackOutcome,
    *,
    limit: int | None,
    seed: int,
    device: str,
) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "kind": "attack",
        "attack": spec.name,
        "label": spec.label,
        "sweep": spec.sweep,
        "params": spec.params(),
        "checkpoint": {
            "path": str(ckpt.path),
            "config_hash": ckpt.config_hash,
            "weights_sha256": ckpt.meta.get("weights_sha256"),
            "train_config": ckpt.meta["train_config"],
        },
        "samples": {"split": "test", "limit": limit, "n": outcome.n},
        "seed": seed,
        "clean": {"correct": outcome.clean_correct, "accuracy": outcome.clean_accuracy},
        "points": [p.to_dict() for p in outcome.points],
        "checks": [c.to_dict() for c in outcome.checks],
        "passed": outcome.passed,
        "timings": outcome.timings,
        "versions": versions(),
        "device": device,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def save_record(path: Path, record: dict[str, Any]) -> None:
    write_json_atomic(path, record)


def load_record(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        record: dict[str, Any] = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise LilbenchError(f"{path} is not valid JSON; delete it (or use --force)") from exc
    if record.get("schema") != SCHEMA:
        return None  # an older format: recompute
    return record
