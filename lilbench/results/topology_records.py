"""Topology-or-reuse: a model's per-class persistent homology, cached in the runs directory.

    <runs>/topology/<config hash[:16]>/topology-<key[:16]>.json

keyed by the weights' tensor hash, the data set's checksum and the diagnostic's settings
(points per class, threshold, subsample seed), so a record is only served for exactly the
weights and settings it was computed on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import ValidationError

from lilbench import store, topology
from lilbench.data import Dataset
from lilbench.errors import RecordError
from lilbench.io import canonical_json, get_or_compute, sha256_bytes
from lilbench.results.records import check_request, stored_request
from lilbench.schemas import TopologyRecord
from lilbench.training.checkpoint import Checkpoint, load_model

SCHEMA = 2  # 2: no H0 bottleneck distance
FOLDER = "topology"


def _key(ckpt: Checkpoint, data: Dataset, params: dict[str, Any]) -> str:
    ident = {
        "weights": ckpt.tensors_sha256,
        "dataset": data.checksum,
        "params": params,
        "schema": SCHEMA,
    }
    return sha256_bytes(canonical_json(ident).encode())


def record_path(runs_dir: Path, ckpt: Checkpoint, data: Dataset, params: dict[str, Any]) -> Path:
    key = _key(ckpt, data, params)
    return runs_dir / FOLDER / ckpt.config_hash[:16] / f"topology-{key[:16]}.json"


@torch.no_grad()
def model_topology(
    model: torch.nn.Module,
    data: Dataset,
    *,
    max_points: int = topology.MAX_POINTS,
    threshold: float = topology.THRESHOLD,
    seed: int = 0,
) -> list[topology.ClassTopology]:
    """Per label level and class of the test split: inputs against phi (for stacked LILs,
    each level's block output, against the inputs)."""
    model.eval()
    x = data.x_test
    levels = data.levels_test if data.levels_test is not None else data.y_test[:, None]
    if len(model.levels(x[:1])) > 1:  # type: ignore[operator]  # a stacked model
        phis = [o.phi for o in model.levels(x)]  # type: ignore[operator]
    else:
        phis = [torch.cat([model.features(c) for c in x.split(1000)])]  # type: ignore[operator]
        levels = levels[:, -1:]
    out = []
    xs = x.reshape(len(x), -1).double().numpy()
    for level, phi in enumerate(phis):
        labels = levels[:, level].numpy()
        p = phi.reshape(len(phi), -1).double().numpy()
        for cls in np.unique(labels):
            idx = topology.subsample(labels, int(cls), max_points=max_points, seed=seed)
            if len(idx) < 3:
                continue
            out.append(
                topology.compare(xs[idx], p[idx], level=level, label=int(cls), threshold=threshold)
            )
    return out


def datasets_of(
    checkpoints: list[Checkpoint], data_dir: Path | None = None
) -> dict[tuple[str, int], Dataset]:
    """The data set each checkpoint was trained on, loaded once per (name, seed)."""
    from lilbench.data import load_dataset

    out: dict[tuple[str, int], Dataset] = {}
    for ckpt in checkpoints:
        key = (ckpt.config.dataset, ckpt.config.seed)
        if key not in out:
            out[key] = load_dataset(key[0], data_dir=data_dir, seed=key[1])
    return out


_FIX = "the command that made it, after deleting it"


def _load(
    path: Path, ckpt: Checkpoint, data: Dataset, params: dict[str, Any]
) -> TopologyRecord | None:
    if not path.is_file():
        return None
    try:
        rec = TopologyRecord.model_validate_json(path.read_text())
    except (OSError, ValidationError):
        raise RecordError(f"{path} is not a readable topology record; delete it") from None
    if rec.schema_ != SCHEMA:
        raise RecordError(f"{path} has an unknown layout; delete it")
    if rec.weights != ckpt.tensors_sha256:
        raise RecordError(f"{path} was computed on other weights than {ckpt.path}; delete it")
    check_request(path, stored_request(rec, params, data.checksum), fix=_FIX)
    return rec


def _params(max_points: int, threshold: float, seed: int) -> dict[str, Any]:
    return {"max_points": max_points, "threshold": threshold, "seed": seed, "maxdim": 1}


def ensure_topology(
    runs_dir: Path,
    ckpt: Checkpoint,
    data: Dataset,
    *,
    max_points: int = topology.MAX_POINTS,
    threshold: float = topology.THRESHOLD,
    seed: int = 0,
    compute_missing: bool = True,
) -> TopologyRecord | None:
    """The model's topology record: reused when cached for these weights and settings, else
    computed and stored (or, with `compute_missing=False`, None)."""
    params = _params(max_points, threshold, seed)
    path = record_path(runs_dir, ckpt, data, params)
    if not compute_missing:
        return _load(path, ckpt, data, params)
    topology.require()

    def compute() -> TopologyRecord:
        import time

        model = load_model(ckpt.path, input_dim=data.input_dim)
        start = time.perf_counter()
        classes = model_topology(model, data, max_points=max_points, threshold=threshold, seed=seed)
        rec = {
            "schema": SCHEMA,
            "kind": "topology",
            "weights": ckpt.tensors_sha256,
            "dataset": {"name": data.name, "checksum": data.checksum},
            "params": params,
            "seconds": time.perf_counter() - start,
            "classes": [c.to_dict() for c in classes],
        }
        store.write_record(path, rec)
        return TopologyRecord.model_validate(rec)

    lock = store.lock_path(runs_dir, path)
    rec, _ = get_or_compute(lambda: _load(path, ckpt, data, params), compute, lock=lock)
    return rec
