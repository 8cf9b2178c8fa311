"""Smooth-or-reuse: maps (weights, smoothing parameters, test images, seed, device kind) to
a checked, cached randomized-smoothing record."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

from lilbench import store
from lilbench.certify.smoothing import SmoothingSpec, check, smooth_certify
from lilbench.data import load_dataset
from lilbench.errors import ConfigError
from lilbench.io import canonical_json, get_or_compute, sha256_bytes
from lilbench.results.records import (
    Cached,
    check_request,
    check_weights,
    read_json_record,
    versions,
)
from lilbench.runtime import device_tag
from lilbench.schemas import SmoothingRecord
from lilbench.training.checkpoint import Checkpoint, load_model

SCHEMA = 2  # 2: noise drawn where a linear first layer maps it (same distribution, new draws)


def smoothing_path(
    runs_dir: Path,
    ckpt: Checkpoint,
    spec: SmoothingSpec,
    *,
    limit: int | None,
    seed: int,
    device: object,
) -> Path:
    ident: dict[str, Any] = {
        "weights": ckpt.tensors_sha256,
        "smoothing": spec.params(),
        "limit": limit,
        "seed": seed,
        "schema": SCHEMA,
    }
    tag = device_tag(device)
    if tag is not None:  # GPU draws and sums round differently: a key of their own
        ident["device"] = tag
    key = sha256_bytes(canonical_json(ident).encode())
    return store.smoothing_record_path(runs_dir, ckpt.config_hash, key)


def find_smoothing(
    runs_dir: Path,
    ckpt: Checkpoint,
    spec: SmoothingSpec,
    *,
    limit: int | None,
    seed: int,
    device: object = "cpu",
    fix: str = "--force",
) -> SmoothingRecord | None:
    path = smoothing_path(runs_dir, ckpt, spec, limit=limit, seed=seed, device=device)
    record = read_json_record(path, SmoothingRecord, fix=fix)
    if record is not None:
        check_weights(path, record.checkpoint.tensors_sha256, ckpt, fix=fix)
        fields = {
            "test limit": (record.samples.limit, limit),
            "smoothing parameters": (record.params, spec.params()),
        }
        check_request(path, fields, fix=fix)
    return record


def ensure_smoothing(
    ckpt: Checkpoint,
    spec: SmoothingSpec,
    *,
    runs_dir: Path,
    data_dir: Path | None = None,
    limit: int | None = None,
    seed: int = 0,
    device: object = "cpu",
    force: bool = False,
) -> Cached[SmoothingRecord]:
    spec.validate()
    if limit is not None and limit < 1:
        raise ConfigError(f"limit must be >= 1, got {limit}")
    path = smoothing_path(runs_dir, ckpt, spec, limit=limit, seed=seed, device=device)

    def compute() -> SmoothingRecord:
        config = ckpt.config
        data = load_dataset(config.dataset, seed=config.seed, data_dir=data_dir)
        model = load_model(ckpt.path, device=str(device), input_dim=data.input_dim)
        x, y = data.x_test[:limit], data.y_test[:limit]
        t0 = time.perf_counter()
        classes = data.num_classes
        sm = smooth_certify(model, x, y, spec, seed=seed, classes=classes, device=device)
        seconds = time.perf_counter() - t0
        checks = check(model, x, sm, spec, seed=seed, classes=classes, device=device)
        record = {
            "schema": SCHEMA,
            "kind": "smoothing",
            "params": spec.params(),
            "checkpoint": {
                "path": str(ckpt.path),
                "config_hash": ckpt.config_hash,
                "tensors_sha256": ckpt.tensors_sha256,
                "train_config": ckpt.meta["train_config"],
            },
            "samples": {"split": "test", "limit": limit, "n": len(y)},
            "seed": seed,
            "predictions": sm.predictions,
            "radii": sm.radii,
            "labels": sm.labels,
            "points": [
                {"radius": r, "n": len(y), "certified": sm.certified(r)} for r in spec.radii
            ],
            "abstained": sm.abstained,
            "average_radius": sm.average_radius,
            "ceiling": spec.ceiling,
            "seconds": seconds,
            "checks": checks,
            "passed": all(c["passed"] for c in checks),
            "device": str(device),
            "threads": torch.get_num_threads(),
            "versions": versions(),
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        store.write_record(path, record)
        return SmoothingRecord.model_validate(record)

    def load() -> SmoothingRecord | None:
        return find_smoothing(runs_dir, ckpt, spec, limit=limit, seed=seed, device=device)

    record, reused = get_or_compute(
        load, compute, lock=store.lock_path(runs_dir, path), force=force
    )
    return Cached(record, path, reused)
