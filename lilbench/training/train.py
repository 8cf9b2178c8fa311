"""The training loop: seeded, full-tensor batching (no DataLoader workers), pure function."""

from __future__ import annotations

import math
import time

import torch

from lilbench.data import Dataset
from lilbench.training.batched import batch_key, train_batch
from lilbench.training.common import (
    Progress,
    TrainingDiverged,
    TrainResult,
    build_model,
    level_metrics,
    levels_of,
    model_dtype,
    seed_everything,
)
from lilbench.training.config import TrainConfig

__all__ = ["Progress", "TrainResult", "TrainingDiverged", "train"]


def train(
    config: TrainConfig,
    data: Dataset,
    *,
    device: torch.device | str = "cpu",
    progress: Progress | None = None,
) -> TrainResult:
    data.check_trainable()
    config = config.validate().normalised()
    if batch_key(config) is not None:
        # The batched path, with a batch of one: the same bits as inside a suite's batch.
        (result,) = train_batch([config], data, device=device, progress=[progress])
        if isinstance(result, Exception):
            raise result
        return result
    objective = config.make_objective()
    device = torch.device(device)
    seed_everything(config.seed)
    model = build_model(config, data).to(device)
    x_train = data.x_train[: config.limit].to(device, model_dtype(model))
    l_train = levels_of(data, "train")[: config.limit].to(device)
    optimiser = torch.optim.Adam(model.parameters(), lr=config.lr)
    gen = torch.Generator().manual_seed(config.seed)
    n = len(x_train)
    batch_size = config.batch_size or n
    steps_per_epoch = -(-n // batch_size)
    total = steps_per_epoch * config.epochs
    start = time.perf_counter()
    done = 0
    sums: dict[str, float] = {}
    for epoch in range(1, config.epochs + 1):
        model.train()
        order = torch.randperm(n, generator=gen).to(device)
        sums = {}
        for s in range(steps_per_epoch):
            idx = order[s * batch_size : (s + 1) * batch_size]
            parts = objective.loss(model, x_train[idx], l_train[idx])
            optimiser.zero_grad(set_to_none=True)
            parts["total"].backward()
            optimiser.step()
            for name, value in parts.items():
                if name != "total":
                    sums[name] = sums.get(name, 0.0) + float(value.detach())
            if not math.isfinite(float(parts["total"].detach())):
                raise TrainingDiverged(
                    f"training diverged: the loss became {float(parts['total'])} at epoch "
                    f"{epoch}, step {s + 1}; nothing was saved (lower --lr?)"
                )
            done += 1
            if progress is not None:
                progress(done, total, epoch, {k: v / (s + 1) for k, v in sums.items()})
    config.family.after_training(model)
    train_seconds = time.perf_counter() - start
    model.eval()
    metrics = {
        **level_metrics(model, data, device),
        # Each loss part's mean over the last epoch (lil: final_ce, final_iso).
        **{f"final_{k}": v / steps_per_epoch for k, v in sums.items()},
        # A training CE above that of guessing uniformly (ln C) means the run diverged.
        "diverged": sums.get("ce", 0.0) / steps_per_epoch > math.log(data.num_classes),
        "train_seconds": train_seconds,
        "train_samples": n,
        "samples_per_second": n * config.epochs / train_seconds,
    }
    return TrainResult(model=model, metrics=metrics)
