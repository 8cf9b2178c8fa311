"""Train-or-reuse: the one place that maps a config to its checkpoint."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import torch
from filelock import FileLock

from lilbench.data import load_dataset
from lilbench.io import get_or_compute
from lilbench.store import lock_path
from lilbench.training.batched import batch_key, group_configs, train_batch
from lilbench.training.checkpoint import (
    Checkpoint,
    checkpoint_dir,
    find_checkpoint,
    read_checkpoint,
    save_checkpoint,
)
from lilbench.training.config import TrainConfig
from lilbench.training.train import Progress, TrainResult, train


@dataclass(frozen=True)
class Trained:
    checkpoint: Checkpoint
    reused: bool


def ensure_checkpoint(
    config: TrainConfig,
    *,
    runs_dir: Path,
    data_dir: Path | None = None,
    device: torch.device | str = "cpu",
    force: bool = False,
    progress: Progress | None = None,
) -> Trained:
    config = config.validate().normalised()

    def compute() -> Checkpoint:
        data = load_dataset(config.dataset, data_dir=data_dir, seed=config.seed)
        result = train(config, data, device=device, progress=progress)
        return save_checkpoint(
            runs_dir,
            result.model,
            config,
            dataset_checksum=data.checksum,
            metrics=result.metrics,
            device=str(device),
        )

    lock = lock_path(runs_dir, checkpoint_dir(runs_dir, config, device))
    ckpt, reused = get_or_compute(
        lambda: find_checkpoint(runs_dir, config, device), compute, lock=lock, force=force
    )
    return Trained(ckpt, reused=reused)


def ensure_checkpoints(
    configs: Sequence[TrainConfig],
    *,
    runs_dir: Path,
    data_dir: Path | None = None,
    device: torch.device | str = "cpu",
    force: bool = False,
    on_done: Callable[[int, Trained], None] | None = None,
) -> list[Trained]:
    """Train-or-reuse several configs, training those that can share a pass together (see
    `lilbench.training.batched`); `on_done(i, trained)` as each is saved or found. A model
    that diverges raises its error after the rest of its batch is saved."""
    configs = [c.validate().normalised() for c in configs]
    out: dict[int, Trained] = {}

    def finish(i: int, trained: Trained) -> None:
        out[i] = trained
        if on_done is not None:
            on_done(i, trained)

    def missing(indices: list[int]) -> list[int]:
        """Those not on disk yet (all of them with `force`); the others are reused."""
        left = []
        for i in indices:
            found = None if force else find_checkpoint(runs_dir, configs[i], device)
            if found is not None:
                finish(i, Trained(found, reused=True))
            else:
                left.append(i)
        return left

    errors: list[Exception] = []
    for group in group_configs(configs):
        todo = missing(group)
        if not todo:
            continue
        locks = sorted(
            {
                i: lock_path(runs_dir, checkpoint_dir(runs_dir, configs[i], device)) for i in todo
            }.items(),
            key=lambda kv: str(kv[1]),
        )
        with ExitStack() as held:
            for _, lock in locks:  # in path order, so two processes cannot deadlock
                lock.parent.mkdir(parents=True, exist_ok=True)
                held.enter_context(FileLock(str(lock)))
            still = missing(todo)  # some finished by another process while this one waited
            if not still:
                continue
            data = load_dataset(
                configs[still[0]].dataset, data_dir=data_dir, seed=configs[still[0]].seed
            )
            results: list[TrainResult | Exception]
            if batch_key(configs[still[0]]) is None:  # trains alone, by the plain loop
                results = [train(configs[still[0]], data, device=device)]
            else:
                results = train_batch([configs[i] for i in still], data, device=device)
            for i, result in zip(still, results, strict=True):
                if isinstance(result, Exception):
                    errors.append(result)
                    continue
                ckpt = save_checkpoint(
                    runs_dir,
                    result.model,
                    configs[i],
                    dataset_checksum=data.checksum,
                    metrics=result.metrics,
                    device=str(device),
                )
                finish(i, Trained(ckpt, reused=False))
    if errors:
        raise errors[0]
    return [out[i] for i in range(len(configs))]


def select_checkpoint(
    checkpoint: Path | None,
    config: TrainConfig,
    *,
    runs_dir: Path,
    data_dir: Path | None = None,
    device: torch.device | str = "cpu",
    progress: Progress | None = None,
) -> Trained:
    """The model a command or the API works on: the checkpoint at `checkpoint` when given
    (reused), else the cached checkpoint of `config`, trained when new."""
    if checkpoint is not None:
        return Trained(read_checkpoint(checkpoint), reused=True)
    config.validate()
    return ensure_checkpoint(
        config, runs_dir=runs_dir, data_dir=data_dir, device=device, progress=progress
    )
