"""Checkpoints: safetensors weights with the metadata in the file's header, plus meta.json.

A checkpoint lives at `<runs>/models/<config hash[:16]>/` (see lilbench.store), written into
a scratch directory and renamed into place, so an interrupted run leaves either a whole
checkpoint or none. Its identity is the tensor hash (`tensors_sha256`), stored in both the
header and meta.json and recomputed from the tensors on every read.
"""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import safetensors
import safetensors.torch
import torch

from lilbench.errors import CheckpointError, ConfigError
from lilbench.io import (
    atomic_dir,
    canonical_json,
    sha256_bytes,
    sha256_file,
    write_json_atomic,
)
from lilbench.models.family import family_of_architecture
from lilbench.store import META, WEIGHTS, log, model_dir, tensors_sha256, tensors_sha256_file
from lilbench.training.config import TrainConfig
from lilbench.version import __version__

if TYPE_CHECKING:
    from torch import nn

    from lilbench.data import Dataset
    from lilbench.models.external import ExternalModel

META_KEY = "lilbench"
FORMAT_VERSION = 1
EXTERNAL = "ext-"  # the directory prefix of imported models (models/ext-<hash>/)


@dataclass(frozen=True)
class Checkpoint:
    path: Path  # the checkpoint directory
    meta: dict[str, Any]

    @property
    def external(self) -> bool:
        """A model lilbench did not train (imported with `--model`); its `config` holds only
        the data set it is evaluated on."""
        return "external" in self.meta

    @property
    def config(self) -> TrainConfig:
        return TrainConfig.from_dict(self.meta["train_config"])

    @property
    def config_hash(self) -> str:
        return str(self.meta["config_hash"])

    @property
    def tensors_sha256(self) -> str:
        """What every result computed on these weights is keyed by."""
        return str(self.meta["tensors_sha256"])

    @property
    def metrics(self) -> dict[str, Any]:
        return dict(self.meta["metrics"])


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


def is_external(directory: Path) -> bool:
    return directory.name.startswith(EXTERNAL)


def read_checkpoint(path: Path) -> Checkpoint:
    """Read and verify the metadata of a checkpoint directory (or its .safetensors file)."""
    directory = _resolve(path)
    if is_external(directory):
        return _read_external(directory)
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
            f"{directory} has no {META}, so its weights cannot be verified; delete the "
            "checkpoint and train again (or --force)"
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
        return _load_external(ckpt, device=device, input_dim=input_dim)
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
    return read_checkpoint(directory)


def import_external(
    runs_dir: Path, model: ExternalModel, *, dataset: Dataset, device: torch.device | str = "cpu"
) -> Checkpoint:
    """An external model file as an entry of the runs directory (a copy of the file and its
    metadata), so that its attack records are cached and keyed like any checkpoint's. The
    entry is named by the model's identity and the data set: a changed file is a new entry,
    and the old records are never served for it."""
    from lilbench.models import external as ext

    ident = ext.identity(model)
    found = _find_external(runs_dir, ident, dataset)
    if found is not None:
        return found
    inner = ext.load(model, device=device)
    return _register(runs_dir, ident, model.describe(), inner, dataset, model.file, device)


def find_external(runs_dir: Path, model: ExternalModel, *, dataset: Dataset) -> Checkpoint | None:
    """The entry `import_external` made for this model file and data set, if any."""
    from lilbench.models import external as ext

    return _find_external(runs_dir, ext.identity(model), dataset)


def import_module(
    runs_dir: Path,
    module: torch.nn.Module,
    ident: str,
    *,
    dataset: Dataset,
    device: torch.device | str = "cpu",
) -> Checkpoint:
    """A module held in memory (`lilbench.evaluate`): an entry with its metadata only, keyed
    by `ident` (its class source and tensors); its results are served only to a module with
    the same identity, passed to `ensure_attack` as `module`."""
    found = _find_external(runs_dir, ident, dataset)
    if found is not None:
        return found
    cls = type(module)
    info = {"kind": "module", "file": None, "factory": f"{cls.__module__}.{cls.__qualname__}"}
    return _register(runs_dir, ident, info, module, dataset, None, device)


def _external_dir(runs_dir: Path, ident: str, dataset: Dataset) -> tuple[str, Path]:
    key = EXTERNAL + sha256_bytes(f"{ident}:{dataset.name}:{dataset.checksum}".encode())
    return key, model_dir(runs_dir, key)


def _find_external(runs_dir: Path, ident: str, dataset: Dataset) -> Checkpoint | None:
    _, directory = _external_dir(runs_dir, ident, dataset)
    if not (directory / META).is_file():
        return None
    found = read_checkpoint(directory)
    return found if found.tensors_sha256 == ident else None


def _register(
    runs_dir: Path,
    ident: str,
    info: dict[str, Any],
    inner: torch.nn.Module,
    dataset: Dataset,
    source: Path | None,
    device: torch.device | str,
) -> Checkpoint:
    from lilbench.models import external as ext
    from lilbench.models.functional import count_correct

    key, directory = _external_dir(runs_dir, ident, dataset)
    handed_in_training = bool(inner.training)
    train_time = ext.has_train_time_layers(inner)
    inner.eval()
    try:
        wrapped, shape = ext.adapt(
            inner, image_shape=dataset.image_shape, num_classes=dataset.num_classes
        )
        x, y = dataset.x_test.to(device), dataset.y_test.to(device)
        accuracy = count_correct(wrapped, x, y, 1000) / len(x)
    finally:
        inner.train(handed_in_training)
    stored = None if source is None else f"external{''.join(source.suffixes) or '.bin'}"
    meta: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "external": {
            **info,
            "stored_as": stored,
            "input_shape": list(shape),
            "handed_in_training_mode": handed_in_training,
            "train_time_layers": train_time,
        },
        "architecture": {"type": "external", "kind": info["kind"]},
        "train_config": TrainConfig(dataset=dataset.name).to_dict(),
        "config_hash": key,
        "tensors_sha256": ident,
        "seed": 0,
        "dataset": {"name": dataset.name, "checksum": dataset.checksum},
        "versions": {"lilbench": __version__, "torch": torch.__version__},
        "device": str(device),
        "metrics": {"clean_test_accuracy": accuracy},
    }
    with atomic_dir(directory) as scratch:  # replaces another identity of the same short name
        if source is not None and stored is not None:
            shutil.copyfile(source, scratch / stored)
            meta["weights_sha256"] = sha256_file(scratch / stored)
        else:
            meta["weights_sha256"] = ident
        write_json_atomic(scratch / META, meta)
    return Checkpoint(path=directory, meta=meta)


def _read_external(directory: Path) -> Checkpoint:
    meta_file = directory / META
    try:
        meta = json.loads(meta_file.read_text())
        name = meta["external"]["stored_as"]
        kind = meta["external"]["kind"]
    except (OSError, KeyError, TypeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{directory}: not a readable external model entry ({exc})") from None
    if kind == "module":  # held in memory: nothing on disk to verify
        return Checkpoint(path=directory, meta=meta)
    stored = directory / str(name)
    if not stored.is_file() or sha256_file(stored) != meta.get("weights_sha256"):
        raise CheckpointError(
            f"{stored} does not match the SHA-256 in its {META}; delete {directory} and import "
            "the model again"
        )
    if meta["external"]["kind"] != "factory" and meta["weights_sha256"] != meta["tensors_sha256"]:
        raise CheckpointError(f"{meta_file} names two different hashes; delete {directory}")
    return Checkpoint(path=directory, meta=meta)


def _load_external(
    ckpt: Checkpoint, *, device: torch.device | str, input_dim: int | None
) -> torch.nn.Module:
    from lilbench.models import external as ext

    info = ckpt.meta["external"]
    if info["kind"] == "module":
        raise CheckpointError(
            f"{ckpt.path} is a module that was held in memory; pass it to lilbench.evaluate"
        )
    model = ext.ExternalModel(info["kind"], ckpt.path / info["stored_as"], info.get("factory"))
    if model.kind == "factory" and ext.identity(model) != ckpt.tensors_sha256:
        raise CheckpointError(
            f"the source of {model.factory} changed since {ckpt.path} was imported; import the "
            "model again (--model ... --force) so its results are recomputed"
        )
    shape = tuple(int(s) for s in info["input_shape"])
    if input_dim is not None and math.prod(shape) != input_dim:
        raise CheckpointError(f"{ckpt.path} takes inputs of shape {shape}, not {input_dim} values")
    inner = ext.load(model, device=device).eval()
    return ext.FlatInput(inner, shape).to(device).eval()
