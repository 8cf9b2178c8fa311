"""Checkpoints: safetensors weights with the metadata in the file's header, plus meta.json.

A checkpoint lives at `<runs>/models/<config hash[:16]>/`, written into a scratch directory
and renamed into place, so an interrupted run leaves either a whole checkpoint or none.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import safetensors
import safetensors.torch
import torch

import lilbench
from lilbench.errors import CheckpointError
from lilbench.io import canonical_json, sha256_file
from lilbench.models import LILMLP, MODELS, StackedLIL
from lilbench.training.config import TrainConfig

WEIGHTS = "model.safetensors"
META = "meta.json"
META_KEY = "lilbench"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class Checkpoint:
    path: Path  # the checkpoint directory
    meta: dict[str, Any]

    @property
    def config(self) -> TrainConfig:
        return TrainConfig.from_dict(self.meta["train_config"])

    @property
    def config_hash(self) -> str:
        return str(self.meta["config_hash"])

    @property
    def metrics(self) -> dict[str, Any]:
        return dict(self.meta["metrics"])


def checkpoint_dir(runs_dir: Path, config: TrainConfig) -> Path:
    return runs_dir / "models" / config.config_hash()[:16]


def save_checkpoint(
    runs_dir: Path,
    model: LILMLP | StackedLIL,
    config: TrainConfig,
    *,
    dataset_checksum: str,
    metrics: dict[str, Any],
    device: str,
) -> Checkpoint:
    config = config.normalised()
    final = checkpoint_dir(runs_dir, config)
    meta = {
        "format_version": FORMAT_VERSION,
        "architecture": {"type": type(model).__name__, **model.spec.to_dict()},
        "train_config": config.to_dict(),
        "config_hash": config.config_hash(),
        "seed": config.seed,
        "dataset": {"name": config.dataset, "checksum": dataset_checksum},
        "versions": {"lilbench": lilbench.__version__, "torch": torch.__version__},
        "device": device,
        "metrics": metrics,
    }
    final.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
    try:
        state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        safetensors.torch.save_file(
            state, str(scratch / WEIGHTS), metadata={META_KEY: canonical_json(meta)}
        )
        meta_with_hash = {**meta, "weights_sha256": sha256_file(scratch / WEIGHTS)}
        (scratch / META).write_text(json.dumps(meta_with_hash, indent=2, sort_keys=True) + "\n")
        if final.exists():  # --force: replace the old checkpoint as a whole
            shutil.rmtree(final)
        os.replace(scratch, final)
    finally:
        if scratch.exists():
            shutil.rmtree(scratch)
    return Checkpoint(path=final, meta=meta_with_hash)


def _resolve(path: Path) -> Path:
    path = Path(path)
    if path.is_file() and path.name == WEIGHTS:
        return path.parent
    if path.is_dir():
        return path
    raise CheckpointError(f"no checkpoint at {path}: expected a directory holding {WEIGHTS}")


def read_checkpoint(path: Path) -> Checkpoint:
    """Read and verify the metadata of a checkpoint directory (or its .safetensors file)."""
    directory = _resolve(path)
    weights = directory / WEIGHTS
    if not weights.is_file():
        raise CheckpointError(f"no checkpoint at {directory}: {WEIGHTS} is missing")
    try:
        with safetensors.safe_open(str(weights), framework="pt") as f:
            header = f.metadata() or {}
        meta = json.loads(header[META_KEY])
    except (KeyError, json.JSONDecodeError) as exc:
        raise CheckpointError(
            f"{weights} has no lilbench metadata; not a lilbench checkpoint"
        ) from exc
    except Exception as exc:  # safetensors raises its own error types for a damaged header
        raise CheckpointError(f"{weights} is corrupt ({exc}); delete it and train again") from exc
    meta_file = directory / META
    # meta.json holds the weights' SHA-256, which every result computed on them is keyed by:
    # without it the weights cannot be verified, and a result could be served for other ones.
    if not meta_file.is_file():
        raise CheckpointError(
            f"{directory} has no {META}, so its weights cannot be verified; delete the "
            "checkpoint and train again (or --force)"
        )
    try:
        recorded = json.loads(meta_file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{meta_file} is not valid JSON; delete the checkpoint") from exc
    expected = recorded.get("weights_sha256") if isinstance(recorded, dict) else None
    if not expected:
        raise CheckpointError(f"{meta_file} names no weights SHA-256; delete the checkpoint")
    if sha256_file(weights) != expected:
        raise CheckpointError(
            f"{weights} does not match the SHA-256 in {META} (corrupt); delete it, train again"
        )
    meta["weights_sha256"] = expected
    if meta.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"{weights} has format {meta.get('format_version')}, need 1")
    return Checkpoint(path=directory, meta=meta)


def load_model(
    path: Path | str,
    *,
    device: torch.device | str = "cpu",
    input_dim: int | None = None,
) -> LILMLP | StackedLIL:
    """Load a checkpoint as a torch module in eval mode: (N, d) float32 -> logits.

    `input_dim`, when given, is checked against the checkpoint (a mismatch raises).
    """
    ckpt = read_checkpoint(Path(path))
    arch = dict(ckpt.meta["architecture"])
    kind = arch.pop("type", "LILMLP")
    if kind not in MODELS:
        raise CheckpointError(f"{ckpt.path}: {MODELS.unknown(kind)}")
    model: LILMLP | StackedLIL = MODELS.get(kind).from_architecture(arch)  # type: ignore[assignment]
    if input_dim is not None and model.spec.input_dim != input_dim:
        raise CheckpointError(
            f"checkpoint {ckpt.path} takes inputs of size {model.spec.input_dim}, not {input_dim}"
        )
    try:
        state = safetensors.torch.load_file(str(ckpt.path / WEIGHTS))
        model.load_state_dict(state, strict=True)
    except Exception as exc:  # shape or key mismatch, damaged tensor data
        raise CheckpointError(
            f"{ckpt.path / WEIGHTS} does not fit its architecture: {exc}"
        ) from exc
    return model.to(device).eval()


def find_checkpoint(runs_dir: Path, config: TrainConfig) -> Checkpoint | None:
    directory = checkpoint_dir(runs_dir, config)
    if not (directory / WEIGHTS).is_file():
        return None
    return read_checkpoint(directory)
