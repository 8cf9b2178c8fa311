"""Attack result records: one JSON file per (checkpoint, attack, parameters, samples, seed).

Records are written atomically under `<runs>/attacks/<config hash[:16]>/` (see
lilbench.store), keyed by the weights' tensor hash, validated against a schema when read, and
reused when the same attack is asked for again on the same weights.
"""

from __future__ import annotations

import json
import logging
import platform
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Generic, TypeVar

import numpy as np
import torch
from pydantic import ValidationError

from lilbench import store
from lilbench.attacks import AttackSpec
from lilbench.attacks.checks import pack_mask, unpack_mask
from lilbench.attacks.grids import legacy_log_grid
from lilbench.attacks.runner import RULE, AttackOutcome
from lilbench.errors import RecordError
from lilbench.io import canonical_json, sha256_bytes
from lilbench.runtime import device_tag
from lilbench.schemas import AttackRecord, RecordModel
from lilbench.training.checkpoint import Checkpoint
from lilbench.version import __version__

log = logging.getLogger(__name__)

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
    return {
        "lilbench": __version__,
        "art": _art_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


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
    legacy_weights = ckpt.meta.get("weights_sha256")
    if not path.exists() and legacy_weights and device_tag(device) is None:
        legacy_key = _attack_ident(legacy_weights, spec, limit, seed, schema=1)
        legacy = store.attack_record_path(runs_dir, ckpt.config_hash, spec.name, legacy_key)

        def update(rec: dict[str, Any]) -> dict[str, Any] | None:
            named = rec.get("checkpoint")
            if rec.get("schema") != 1 or not isinstance(named, dict):
                return None
            if named.get("weights_sha256") != legacy_weights:
                return None  # computed on other weights: `lilbench runs gc` removes it
            return {
                **rec,
                "schema": SCHEMA,
                "checkpoint": {**named, "tensors_sha256": ckpt.tensors_sha256},
            }

        store.adopt_legacy(path, legacy, update)
    if not path.exists():
        _adopt_inexact_grid(path, runs_dir, ckpt, spec, limit=limit, seed=seed, device=device)
    if path.exists():
        _apply_per_image_rule(path, ckpt, spec, limit=limit, device=device)
    return load_record(path, ckpt, fix=fix, request=(spec, limit, seed, device))


_CLEAN_MASKS: dict[tuple[str, int | None, int, str], np.ndarray] = {}


def _art_clean_mask(ckpt: Checkpoint, limit: int | None, batch: int, device: object) -> np.ndarray:
    """The model's verdict on the unperturbed images, by the same ART path and batch size
    as the attack runner's (cached per weights for the records of one model)."""
    key = (ckpt.tensors_sha256, limit, batch, str(device))
    if key not in _CLEAN_MASKS:
        from lilbench.attacks import art_backend
        from lilbench.data import load_dataset
        from lilbench.training.checkpoint import load_model

        config = ckpt.config
        data = load_dataset(config.dataset, seed=config.seed)
        dev = torch.device(str(device))
        model = load_model(ckpt.path, device=dev, input_dim=data.input_dim)
        clf = art_backend.make_classifier(
            model, input_dim=data.input_dim, num_classes=data.num_classes, device=dev
        )
        x = np.ascontiguousarray(data.x_test[:limit].numpy(), dtype=np.float32)
        y = data.y_test[:limit].numpy()
        _CLEAN_MASKS[key] = np.asarray(clf.predict(x, batch_size=batch).argmax(1) == y)
    return _CLEAN_MASKS[key]


def _apply_per_image_rule(
    path: Path, ckpt: Checkpoint, spec: AttackSpec, *, limit: int | None, device: object
) -> None:
    """Records written before the per-image rule counted an image robust when the attack's
    returned point was classified correctly, even if the clean image was not. They are
    migrated in place (atomically, with a message): every point's bits ANDed with the
    model's clean verdict, recomputed by the runner's own path and checked against the
    record's clean count; what changed is stored under `migrated`."""
    try:
        raw = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return  # load_record says what is wrong with it
    if not isinstance(raw, dict) or raw.get("rule") or raw.get("kind") != "attack":
        return
    points = raw.get("points")
    n = raw.get("samples", {}).get("n")
    if not isinstance(points, list) or not isinstance(n, int) or ckpt.external:
        return  # a model held in memory cannot be reloaded here: the record stays as it was
    if not all(isinstance(p, dict) and p.get("correct_bits") for p in points):
        return  # no per-image bits (an older record): nothing to apply the rule to
    clean = _art_clean_mask(ckpt, limit, spec.batch_size, device)
    if len(clean) != n or int(clean.sum()) != raw.get("clean", {}).get("correct"):
        log.warning(
            "%s: the model's clean predictions no longer give the record's clean count; the "
            "record keeps the earlier rule (rerun it with --force)",
            path,
        )
        return
    changed, migrated = 0, []
    for p in points:
        mask = unpack_mask(p["correct_bits"], n)
        rule = mask & clean
        removed = int((mask & ~clean).sum())
        changed += removed
        migrated.append(
            {
                **p,
                "correct_bits": pack_mask(rule),
                "correct": int(rule.sum()),
                "accuracy": float(rule.sum()) / n,
                "rule_removed": removed,
            }
        )
    raw.update(
        points=migrated,
        clean={**raw["clean"], "bits": pack_mask(clean)},
        rule=RULE,
        migrated={
            "from": "robust when the returned point is correct",
            "image_points_changed": changed,
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
        },
    )
    store.write_record(path, raw)
    (log.warning if changed else log.info)(
        "%s: migrated to the per-image rule (robust = correct unperturbed and attacked): "
        "%d image-point(s) no longer counted robust",
        path,
        changed,
    )


def _adopt_inexact_grid(
    path: Path,
    runs_dir: Path,
    ckpt: Checkpoint,
    spec: AttackSpec,
    *,
    limit: int | None,
    seed: int,
    device: object,
) -> None:
    """Earlier versions stored a START:STOP:NUM grid with float error at its ends
    (0.29999999999999993 for 0.3): a record of that grid is renamed to this grid's key, its
    eps and points rewritten to the exact values, with a message."""
    params = spec.params()
    given = params.get("eps")
    if not isinstance(given, list | tuple):
        return
    eps = tuple(float(v) for v in given)
    old = legacy_log_grid(eps)
    if old is None:
        return
    old_params = {**params, "eps": list(old)}
    key = _attack_ident(ckpt.tensors_sha256, spec, limit, seed, SCHEMA, device, old_params)
    legacy = store.attack_record_path(runs_dir, ckpt.config_hash, spec.name, key)
    exact = dict(zip(old, eps, strict=True))

    def update(rec: dict[str, Any]) -> dict[str, Any] | None:
        if rec.get("params") != canonical_params(old_params):
            return None
        points = [
            {**p, "eps": exact.get(p["eps"], p["eps"])} if isinstance(p, dict) and "eps" in p else p
            for p in rec.get("points", [])
        ]
        return {**rec, "params": canonical_params(params), "points": points}

    store.adopt_legacy(
        path, legacy, update, why=f"its eps grid now ends exactly at {eps[0]:g} and {eps[-1]:g}"
    )


def canonical_params(params: dict[str, Any]) -> Any:
    """Parameters as a record stores them (tuples are lists once written as JSON)."""
    return json.loads(canonical_json(params))
