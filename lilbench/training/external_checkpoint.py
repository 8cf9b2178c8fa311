"""Models lilbench did not train, as entries of the runs directory: a user's file (torch.export,
TorchScript, or a factory with weights) or a module held in memory, keyed by its identity
and the data set, so that their results are cached and checked like any checkpoint's."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from lilbench.data.user_files import key_name
from lilbench.errors import CheckpointError
from lilbench.io import atomic_dir, sha256_bytes, sha256_file, write_json_atomic
from lilbench.store import META, mark_runs_dir, model_dir
from lilbench.training.checkpoint_format import EXTERNAL, FORMAT_VERSION, Checkpoint
from lilbench.training.config import TrainConfig
from lilbench.version import __version__

if TYPE_CHECKING:
    from lilbench.data import Dataset
    from lilbench.models.external import ExternalModel


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


def find_module(runs_dir: Path, ident: str, *, dataset: Dataset) -> Checkpoint | None:
    """The entry of a module held in memory under `ident`, if any."""
    try:
        return _find_external(runs_dir, ident, dataset)
    except CheckpointError:
        return None


def _external_dir(runs_dir: Path, ident: str, dataset: Dataset) -> tuple[str, Path]:
    name = key_name(dataset.name)
    key = EXTERNAL + sha256_bytes(f"{ident}:{name}:{dataset.checksum}".encode())
    return key, model_dir(runs_dir, key)


def _find_external(runs_dir: Path, ident: str, dataset: Dataset) -> Checkpoint | None:
    _, directory = _external_dir(runs_dir, ident, dataset)
    if not (directory / META).is_file():
        return None
    found = read_external(directory)
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
    mark_runs_dir(runs_dir)
    with atomic_dir(directory) as scratch:  # replaces another identity of the same short name
        if source is not None and stored is not None:
            shutil.copyfile(source, scratch / stored)
            meta["weights_sha256"] = sha256_file(scratch / stored)
        else:
            meta["weights_sha256"] = ident
        write_json_atomic(scratch / META, meta)
    return Checkpoint(path=directory, meta=meta)


def read_external(directory: Path) -> Checkpoint:
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


def load_external(
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
