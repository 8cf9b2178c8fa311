"""Checkpoints: safetensors weights with the metadata in the file's header, plus meta.json.

A checkpoint lives at `<runs>/models/<config hash[:16]>/` (see lilbench.store), written into
a scratch directory and renamed into place, so an interrupted run leaves either a whole
checkpoint or none. Its identity is the tensor hash (`tensors_sha256`), stored in both the
header and meta.json and recomputed from the tensors on every read.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any

import safetensors
import safetensors.torch
import torch

from lilbench.data.user_files import is_user_data
from lilbench.errors import CheckpointError, ConfigError
from lilbench.io import (
    atomic_dir,
    canonical_json,
    sha256_bytes,
    sha256_file,
    write_json_atomic,
)
from lilbench.models.family import family_of_architecture
from lilbench.store import (
    META,
    WEIGHTS,
    log,
    mark_runs_dir,
    model_dir,
    tensors_sha256,
    tensors_sha256_file,
)
from lilbench.training.checkpoint_format import (
    EXTERNAL,
    FORMAT_VERSION,
    META_KEY,
    Checkpoint,
    is_external,
)
from lilbench.training.config import TrainConfig
from lilbench.training.external_checkpoint import (
    find_external,
    find_module,
    import_external,
    import_module,
    load_external,
    read_external,
)
from lilbench.version import __version__

if TYPE_CHECKING:
    from torch import nn

__all__ = [
    "EXTERNAL",
    "Checkpoint",
    "find_external",
    "find_module",
    "import_external",
    "import_module",
    "is_external",
    "load_model",
    "read_checkpoint",
]


def storage_hash(config: TrainConfig, device: object = "cpu") -> str:
    """The name a checkpoint is stored under: the config hash, with the device type folded in
    for a GPU (a model trained on CUDA rounds differently: it is another checkpoint, never
    served for the CPU's and the reverse; CPU checkpoints keep the names they always had)."""
    from lilbench.runtime import device_tag

    tag = device_tag(device)
    base = config.config_hash()
    return base if tag is None else sha256_bytes(f"{base}:{tag}".encode())


def checkpoint_dir(runs_dir: Path, config: TrainConfig, device: object = "cpu") -> Path:
    return model_dir(runs_dir, storage_hash(config, device))


def save_checkpoint(
    runs_dir: Path,
    model: nn.Module,
    config: TrainConfig,
    *,
    dataset_checksum: str,
    metrics: dict[str, Any],
    device: str,
) -> Checkpoint:
    config = config.normalised()
    spec: Any = model.spec  # the family's architecture dataclass
    final = checkpoint_dir(runs_dir, config, device)
    meta = {
        "format_version": FORMAT_VERSION,
        "architecture": {"type": config.family.architecture, **spec.to_dict()},
        "train_config": config.to_dict(),
        "config_hash": storage_hash(config, device),
        "seed": config.seed,
        "dataset": {"name": config.dataset, "checksum": dataset_checksum},
        "versions": {"lilbench": __version__, "torch": torch.__version__},
        "device": device,
        "metrics": metrics,
    }
    mark_runs_dir(final.parents[1])  # <runs>/models/<hash>: the first thing stored there
    with atomic_dir(final) as scratch:  # --force replaces the old checkpoint as a whole
        state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        meta["tensors_sha256"] = tensors_sha256(safetensors.torch.save(state))
        safetensors.torch.save_file(
            state, str(scratch / WEIGHTS), metadata={META_KEY: canonical_json(meta)}
        )
        meta_with_hash = {**meta, "weights_sha256": sha256_file(scratch / WEIGHTS)}
        (scratch / META).write_text(json.dumps(meta_with_hash, indent=2, sort_keys=True) + "\n")
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
    if is_external(directory):
        return read_external(directory)
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
    # meta.json holds the hashes that every result computed on the weights is keyed by:
    # without it the weights cannot be verified, and a result could be served for other ones.
    if not meta_file.is_file():
        raise CheckpointError(
            f"{directory} has no {META}, so its weights cannot be verified; remove the "
            f"checkpoint (`rm -r {shlex.quote(str(directory))}`) and train again"
        )
    try:
        recorded = json.loads(meta_file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{meta_file} is not valid JSON; delete the checkpoint") from exc
    if not isinstance(recorded, dict) or not recorded.get("weights_sha256"):
        raise CheckpointError(f"{meta_file} names no weights SHA-256; delete the checkpoint")
    if meta.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"{weights} has format {meta.get('format_version')}, need 1")
    for key in ("config_hash", "train_config", "architecture"):
        if recorded.get(key) != meta.get(key):
            raise CheckpointError(
                f"{meta_file} and the header of {weights} disagree on {key}; delete the "
                "checkpoint and train again"
            )
    tensors = tensors_sha256_file(weights)
    expected = recorded.get("tensors_sha256")
    if expected is None:  # layout 1: verified by the file hash, then given its tensor hash
        if sha256_file(weights) != recorded["weights_sha256"]:
            raise CheckpointError(
                f"{weights} does not match the SHA-256 in {META} (corrupt); delete it, train again"
            )
        _adopt_tensor_hash(meta_file, recorded, tensors)
    elif tensors != expected or meta.get("tensors_sha256", tensors) != tensors:
        raise CheckpointError(
            f"{weights} does not hold the tensors its {META} names (corrupt); delete it and "
            "train again"
        )
    meta["weights_sha256"] = recorded["weights_sha256"]
    meta["tensors_sha256"] = tensors
    return Checkpoint(path=directory, meta=meta)


def _adopt_tensor_hash(meta_file: Path, recorded: dict[str, Any], tensors: str) -> None:
    """Write the tensor hash into a layout-1 meta.json (when the runs directory is writable;
    otherwise it is recomputed on every read, which gives the same key)."""
    try:
        write_json_atomic(meta_file, {**recorded, "tensors_sha256": tensors})
    except OSError:
        return
    log.info("migrated %s: added the weights' tensor hash", meta_file)


def load_model(
    path: Path | str,
    *,
    device: torch.device | str = "cpu",
    input_dim: int | None = None,
    keep_dtype: bool = False,
) -> nn.Module:
    """Load a checkpoint as a torch module in eval mode: (N, d) float32 -> logits.

    A float64 checkpoint (the authors' preset) comes back as its float32 cast, which is what
    ART, every attack and the certificates compute with (its float64 accuracy and the number
    of test images on which the cast predicts otherwise are in the checkpoint's metrics);
    `keep_dtype=True` returns it as stored. `input_dim`, when given, is checked against the
    checkpoint (a mismatch raises).
    """
    ckpt = read_checkpoint(Path(path))
    if ckpt.external:
        return load_external(ckpt, device=device, input_dim=input_dim)
    arch = dict(ckpt.meta["architecture"])
    kind = arch.pop("type", "LILMLP")
    try:
        family = family_of_architecture(kind)
    except ConfigError as exc:
        raise CheckpointError(f"{ckpt.path}: {exc}") from None
    model = family.from_architecture(arch)
    spec: Any = model.spec
    if input_dim is not None and spec.input_dim != input_dim:
        raise CheckpointError(
            f"checkpoint {ckpt.path} takes inputs of size {spec.input_dim}, not {input_dim}"
        )
    try:
        state = safetensors.torch.load_file(str(ckpt.path / WEIGHTS))
        model.load_state_dict(state, strict=True)
    except Exception as exc:  # shape or key mismatch, damaged tensor data
        raise CheckpointError(
            f"{ckpt.path / WEIGHTS} does not fit its architecture: {exc}"
        ) from exc
    if not keep_dtype:
        model = model.float()
    return model.to(device).eval()


def find_checkpoint(
    runs_dir: Path, config: TrainConfig, device: object = "cpu"
) -> Checkpoint | None:
    """The checkpoint of `config` trained on `device`'s kind (CPU or CUDA), if stored."""
    directory = checkpoint_dir(runs_dir, config, device)
    if not (directory / WEIGHTS).is_file():
        return None
    found = read_checkpoint(directory)
    if is_user_data(config.dataset):
        # Found by content: the data may have moved since; read it from where it is now.
        found.meta["train_config"]["dataset"] = config.dataset
    return found
