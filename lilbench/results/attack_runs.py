"""Attack-or-reuse: maps (checkpoint, attack spec, samples, seed) to a checked record."""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from lilbench.attacks import AttackSpec
from lilbench.attacks.base import spec_from_params
from lilbench.attacks.model_checks import probe_model
from lilbench.attacks.runner import Progress, run_attack
from lilbench.data import Dataset, load_dataset
from lilbench.errors import CheckpointError, ConfigError, RecordError
from lilbench.io import get_or_compute
from lilbench.results.records import (
    Cached,
    build_record,
    find_record,
    read_json_record,
    record_path,
    save_record,
)
from lilbench.schemas import AttackRecord
from lilbench.store import lock_path
from lilbench.training.checkpoint import Checkpoint, load_model

log = logging.getLogger(__name__)


AttackRun = Cached[AttackRecord]


def ensure_attack(
    ckpt: Checkpoint,
    spec: AttackSpec,
    *,
    runs_dir: Path,
    data_dir: Path | None = None,
    limit: int | None = None,
    seed: int = 0,
    device: torch.device | str = "cpu",
    force: bool = False,
    progress: Progress | None = None,
    module: torch.nn.Module | None = None,
    data: Dataset | None = None,
) -> AttackRun:
    """`module`: the model itself, for an entry of a module held in memory (its identity was
    computed from it by `lilbench.evaluate`); otherwise the model is loaded from `ckpt`.
    `data`: the data set itself (arrays handed to the API); otherwise loaded by name."""
    spec.validate()
    if limit is not None and limit < 1:
        raise ConfigError(f"limit must be >= 1, got {limit}")
    path = record_path(runs_dir, ckpt, spec, limit=limit, seed=seed, device=device)

    def compute() -> AttackRecord:
        earlier = spec.superseded()
        if earlier is not None and find_record(
            runs_dir, ckpt, earlier, limit=limit, seed=seed, device=device
        ):
            # Not reused and not overwritten: it answers the earlier spec, which still runs.
            log.info(
                "%s: a record by an earlier lilbench (%s) is kept under its own key; this "
                "computes %s anew",
                spec.label,
                ", ".join(f"{k}={v}" for k, v in earlier.params().items() if k != "eps"),
                ", ".join(f"{k}={v}" for k, v in spec.params().items() if k != "eps"),
            )
        config = ckpt.config
        images = (
            data
            if data is not None
            else load_dataset(config.dataset, seed=config.seed, data_dir=data_dir)
        )
        if not images.pixels:
            raise ConfigError(
                f"{config.dataset} inputs are not images in [0, 1]; the L-inf attacks here clip to "
                "[0, 1] and apply to pixel data sets (mnist, fashion-mnist, cifar10) only"
            )
        recorded = ckpt.meta.get("dataset", {}).get("checksum")
        if recorded and recorded != images.checksum:
            raise CheckpointError(
                f"checkpoint {ckpt.path} was trained on other {config.dataset} data than is here"
            )
        if ckpt.external and spec.paper_objective:
            raise ConfigError(
                f"{spec.label} maximises the LIL objective on the model's hidden layer; a model "
                "lilbench did not train has none (use the cross-entropy attacks)"
            )
        if module is not None:
            from lilbench.models.external import FlatInput

            shape = tuple(ckpt.meta["external"]["input_shape"])
            model: torch.nn.Module = FlatInput(module, shape).to(device).eval()
        else:
            model = load_model(ckpt.path, device=device, input_dim=images.input_dim)
        x, y = images.x_test[:limit], images.y_test[:limit]
        # The paper-faithful attacks maximise the model's own objective, as its checkpoint says.
        objective = config.make_objective().attack_objective()
        outcome = run_attack(
            model,
            spec,
            x,
            y,
            num_classes=images.num_classes,
            objective=objective,
            device=device,
            seed=seed,
            progress=progress,
            image_shape=images.image_shape,
        )
        if ckpt.external:  # the model-level checks a model lilbench trained passes by design
            info = ckpt.meta["external"]
            outcome.checks += probe_model(
                model,
                x.to(device),
                y.to(device),
                num_classes=images.num_classes,
                handed_in_training=bool(info.get("handed_in_training_mode")),
                train_time_layers=list(info.get("train_time_layers", [])),
            )
        record = build_record(ckpt, spec, outcome, limit=limit, seed=seed, device=str(device))
        save_record(path, record)
        return AttackRecord.model_validate(record)

    record, reused = get_or_compute(
        lambda: find_record(runs_dir, ckpt, spec, limit=limit, seed=seed, device=device),
        compute,
        lock=lock_path(runs_dir, path),
        force=force,
    )
    return AttackRun(record, path, reused=reused)


def weaker_than_recorded(runs_dir: Path, run: AttackRun) -> list[str]:
    """Where an iterative gradient attack left more images correct than a one-step attack
    (FGSM) recorded on the same weights, images and eps: a sentence per eps. Inside a suite
    the model checks catch this; a single `lilbench attack` says it here."""
    rec = run.record
    me = spec_from_params(rec.params)
    if rec.sweep != "eps" or me.one_step or me.gradient_free or me.minimal_perturbation:
        return []
    mine = {float(p.eps): p for p in rec.points}
    said = []
    for path in sorted(run.path.parent.glob("*.json")):
        if path == run.path:
            continue
        try:
            other = read_json_record(path, AttackRecord, fix="--force")
        except RecordError:
            continue  # `lilbench runs list` reports it; not this command's business
        if (
            other is None
            or other.sweep != "eps"
            or other.checkpoint.tensors_sha256 != rec.checkpoint.tensors_sha256
            or (other.samples.limit, other.samples.n) != (rec.samples.limit, rec.samples.n)
            or not spec_from_params(other.params).one_step
            or spec_from_params(other.params).norm != me.norm
        ):
            continue
        for p in other.points:
            here = mine.get(float(p.eps))
            if here is not None and here.correct > p.correct:
                said.append(
                    f"{rec.label} at eps {p.eps:g} left {here.correct}/{here.n} images correct, "
                    f"but {other.label} ({path.name}) left {p.correct}/{p.n} of the same images: "
                    "this run is weaker than one step (more steps or restarts?)"
                )
    return said
