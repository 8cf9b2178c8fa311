"""Train-or-reuse: the one place that maps a config to its checkpoint."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from lilbench.data import load_dataset
from lilbench.io import get_or_compute
from lilbench.store import lock_path
from lilbench.training.checkpoint import (
    Checkpoint,
    checkpoint_dir,
    find_checkpoint,
    save_checkpoint,
)
from lilbench.training.config import TrainConfig
from lilbench.training.train import Progress, train


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

    lock = lock_path(runs_dir, checkpoint_dir(runs_dir, config))
    ckpt, reused = get_or_compute(
        lambda: find_checkpoint(runs_dir, config), compute, lock=lock, force=force
    )
    return Trained(ckpt, reused=reused)
