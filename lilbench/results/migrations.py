"""Attack records an earlier lilbench wrote, brought to today's layout in place (atomically,
with a message): layout 1 (keyed by the weights file's SHA-256), the per-image rule (an image
is robust only if it is classified right both clean and attacked), and START:STOP:NUM grids
stored with float error at their ends."""

from __future__ import annotations

import json
import logging
from collections import OrderedDict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from lilbench import store
from lilbench.attacks import AttackSpec
from lilbench.attacks.checks import pack_mask, unpack_mask
from lilbench.attacks.grids import legacy_log_grid
from lilbench.attacks.runner import RULE
from lilbench.results.attack_keys import _attack_ident
from lilbench.results.record_io import SCHEMA, canonical_params
from lilbench.runtime import device_tag
from lilbench.training.checkpoint import Checkpoint

log = logging.getLogger(__name__)


def adopt_layout_1(
    path: Path,
    runs_dir: Path,
    ckpt: Checkpoint,
    spec: AttackSpec,
    *,
    limit: int | None,
    seed: int,
    device: object,
) -> None:
    """A layout-1 record of these weights (keyed by the weights file's SHA-256; all were
    computed on the CPU) renamed to this key, its checkpoint naming the tensor hash."""
    legacy_weights = ckpt.meta.get("weights_sha256")
    if path.exists() or not legacy_weights or device_tag(device) is not None:
        return
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


_CLEAN_MASKS: OrderedDict[tuple[str, int | None, int, str], np.ndarray] = OrderedDict()
_CLEAN_MASKS_KEPT = 8  # the records of a few models at a time, not every model a run sees


def _art_clean_mask(ckpt: Checkpoint, limit: int | None, batch: int, device: object) -> np.ndarray:
    """The model's verdict on the unperturbed images, by the same ART path and batch size
    as the attack runner's (cached per weights for the records of one model)."""
    key = (ckpt.tensors_sha256, limit, batch, str(device))
    if key in _CLEAN_MASKS:
        _CLEAN_MASKS.move_to_end(key)
        return _CLEAN_MASKS[key]
    import torch

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
    while len(_CLEAN_MASKS) > _CLEAN_MASKS_KEPT:
        _CLEAN_MASKS.popitem(last=False)
    return _CLEAN_MASKS[key]


def apply_per_image_rule(
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


def adopt_inexact_grid(
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
