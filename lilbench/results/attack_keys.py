"""The key of an attack record: what it was computed for (the weights' tensor hash, the
attack's parameters, the test limit, the seed where the attack draws random numbers, the
schema, and the device kind off the CPU), and the path it is stored under."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lilbench import store
from lilbench.attacks import AttackSpec
from lilbench.io import canonical_json, sha256_bytes
from lilbench.results.record_io import SCHEMA
from lilbench.runtime import device_tag
from lilbench.training.checkpoint import Checkpoint


def _attack_ident(
    weights: str,
    spec: AttackSpec,
    limit: int | None,
    seed: int,
    schema: int,
    device: object = "cpu",
    params: dict[str, Any] | None = None,
) -> str:
    ident: dict[str, Any] = {
        "weights": weights,
        "attack": spec.params() if params is None else params,
        "limit": limit,
        # The seed only changes attacks that draw random numbers (random starts).
        "seed": seed if spec.uses_randomness else None,
        "schema": schema,
    }
    tag = device_tag(device)
    if tag is not None:  # GPU results round differently: a key of their own (CPU keys as ever)
        ident["device"] = tag
    return sha256_bytes(canonical_json(ident).encode())


def attack_key(
    ckpt: Checkpoint, spec: AttackSpec, *, limit: int | None, seed: int, device: object = "cpu"
) -> str:
    # The tensor hash is recomputed from the weights on every read of the checkpoint.
    return _attack_ident(ckpt.tensors_sha256, spec, limit, seed, SCHEMA, device)


def record_path(
    runs_dir: Path,
    ckpt: Checkpoint,
    spec: AttackSpec,
    *,
    limit: int | None,
    seed: int,
    device: object = "cpu",
) -> Path:
    key = attack_key(ckpt, spec, limit=limit, seed=seed, device=device)
    return store.attack_record_path(runs_dir, ckpt.config_hash, spec.name, key)
