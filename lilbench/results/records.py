"""Attack result records: one JSON file per (checkpoint, attack, parameters, samples, seed).

Records are written atomically under `<runs>/attacks/<config hash[:16]>/` (see
lilbench.store), keyed by the weights' tensor hash (`attack_keys`), validated against a schema
when read (`record_io`), migrated from an earlier layout where one is found (`migrations`),
and reused when the same attack is asked for again on the same weights.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lilbench.attacks import AttackSpec
from lilbench.attacks.runner import RULE, AttackOutcome
from lilbench.results import migrations
from lilbench.results.attack_keys import _attack_ident, attack_key, record_path
from lilbench.results.record_io import (
    SCHEMA,
    Cached,
    canonical_params,
    check_request,
    check_weights,
    read_json_record,
    save_record,
    stored_request,
    versions,
)
from lilbench.runtime import device_tag
from lilbench.schemas import AttackRecord
from lilbench.training.checkpoint import Checkpoint

__all__ = [
    "SCHEMA",
    "Cached",
    "_attack_ident",
    "attack_key",
    "build_record",
    "canonical_params",
    "check_request",
    "check_weights",
    "find_record",
    "load_record",
    "read_json_record",
    "record_path",
    "save_record",
    "stored_request",
    "versions",
]


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
            "tensors_sha256": ckpt.tensors_sha256,
            "weights_sha256": ckpt.meta.get("weights_sha256"),
            "train_config": ckpt.meta["train_config"],
            **({"external": ckpt.meta["external"]} if ckpt.external else {}),
        },
        "samples": {"split": "test", "limit": limit, "n": outcome.n},
        "seed": seed,
        "clean": {
            "correct": outcome.clean_correct,
            "accuracy": outcome.clean_accuracy,
            "bits": outcome.clean_bits,
        },
        "rule": RULE,
        "indicators": outcome.indicators,
        "points": [p.to_dict() for p in outcome.points],
        "checks": [c.to_dict() for c in outcome.checks],
        "passed": outcome.passed,
        "timings": outcome.timings,
        "versions": versions(),
        "device": device,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def load_record(
    path: Path,
    ckpt: Checkpoint,
    *,
    fix: str = "--force",
    request: tuple[AttackSpec, int | None, int, object] | None = None,
) -> AttackRecord | None:
    """The attack record at `path`, checked to belong to `ckpt`'s weights and, given the
    `request` (spec, limit, seed, device), to have been computed for it."""
    record = read_json_record(path, AttackRecord, fix=fix)
    if record is not None:
        check_weights(path, record.checkpoint.tensors_sha256, ckpt, fix=fix)
        if request is not None:
            spec, limit, seed, device = request
            fields: dict[str, tuple[Any, Any]] = {
                "attack parameters": (record.params, spec.params()),
                "test limit": (record.samples.limit, limit),
                "device kind": (device_tag(record.device or "cpu"), device_tag(device)),
            }
            if spec.uses_randomness:
                fields["seed"] = (record.seed, seed)
            check_request(path, fields, fix=fix)
    return record


def find_record(
    runs_dir: Path,
    ckpt: Checkpoint,
    spec: AttackSpec,
    *,
    limit: int | None,
    seed: int,
    fix: str = "--force",
    device: object = "cpu",
) -> AttackRecord | None:
    """The attack record of (weights, attack, samples, seed) computed on `device`'s kind,
    adopting a layout-1 record (those were all computed on the CPU)."""
    path = record_path(runs_dir, ckpt, spec, limit=limit, seed=seed, device=device)
    migrations.adopt_layout_1(path, runs_dir, ckpt, spec, limit=limit, seed=seed, device=device)
    if not path.exists():
        migrations.adopt_inexact_grid(
            path, runs_dir, ckpt, spec, limit=limit, seed=seed, device=device
        )
    if path.exists():
        migrations.apply_per_image_rule(path, ckpt, spec, limit=limit, device=device)
    return load_record(path, ckpt, fix=fix, request=(spec, limit, seed, device))
