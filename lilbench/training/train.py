"""The training loop: seeded, full-tensor batching (no DataLoader workers), pure function."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from lilbench.data import Dataset
from lilbench.models import LILMLP, ModelSpec
from lilbench.training.config import TrainConfig
from lilbench.training.loss import isometry_error, lil_loss

Progress = Callable[[int, int, int, float, float], None]
"""(steps done, total steps, epoch (1-based), running CE, running L_iso)."""


@dataclass
class TrainResult:
    model: LILMLP
    metrics: dict[str, Any]


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)


@torch.no_grad()
def evaluate(model: LILMLP, x: torch.Tensor, y: torch.Tensor, batch: int = 5000) -> float:
    model.eval()
    correct = 0
    for i in range(0, len(x), batch):
        correct += int((model(x[i : i + batch]).argmax(1) == y[i : i + batch]).sum())
    return correct / len(x)


@torch.no_grad()
def test_isometry_error(model: LILMLP, data: Dataset, device: torch.device) -> float:
    model.eval()
    x = data.x_test.to(device)
    return isometry_error(x, model.features(x), data.y_test.to(device))


def train(
    config: TrainConfig,
    data: Dataset,
    *,
    device: torch.device | str = "cpu",
    progress: Progress | None = None,
) -> TrainResult:
    config = config.validate().normalised()
    device = torch.device(device)
    seed_everything(config.seed)
    spec = ModelSpec(
        input_dim=data.input_dim,
        width=config.width,
        depth=config.depth,
        activation=config.activation,
        num_classes=data.num_classes,
    )
    model = LILMLP(spec).to(device)
    x_train = data.x_train[: config.limit].to(device)
    y_train = data.y_train[: config.limit].to(device)
    optimiser = torch.optim.Adam(model.parameters(), lr=config.lr)
    gen = torch.Generator().manual_seed(config.seed)
    n = len(x_train)
    steps_per_epoch = -(-n // config.batch_size)
    total = steps_per_epoch * config.epochs
    start = time.perf_counter()
    done = 0
    ce_sum = iso_sum = 0.0
    for epoch in range(1, config.epochs + 1):
        model.train()
        order = torch.randperm(n, generator=gen).to(device)
        ce_sum = iso_sum = 0.0
        for s in range(steps_per_epoch):
            idx = order[s * config.batch_size : (s + 1) * config.batch_size]
            xb, yb = x_train[idx], y_train[idx]
            logits, phi = model.forward_with_features(xb)
            parts = lil_loss(
                logits,
                phi,
                xb,
                yb,
                alpha=config.alpha,
                beta=config.beta,
                mode=config.mode,
                k=config.k,
                metric=config.metric,
            )
            optimiser.zero_grad(set_to_none=True)
            parts.total.backward()
            optimiser.step()
            ce_sum += float(parts.ce.detach())
            iso_sum += float(parts.iso.detach())
            done += 1
            if progress is not None:
                progress(done, total, epoch, ce_sum / (s + 1), iso_sum / (s + 1))
    train_seconds = time.perf_counter() - start
    model.eval()
    x_test, y_test = data.x_test.to(device), data.y_test.to(device)
    metrics = {
        "clean_test_accuracy": evaluate(model, x_test, y_test),
        "final_ce": ce_sum / steps_per_epoch,  # mean over the last epoch
        "final_iso": iso_sum / steps_per_epoch,
        "test_isometry_error": test_isometry_error(model, data, device),
        "train_seconds": train_seconds,
        "train_samples": n,
        "samples_per_second": n * config.epochs / train_seconds,
    }
    return TrainResult(model=model, metrics=metrics)
