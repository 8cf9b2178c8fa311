"""The training loop: seeded, full-tensor batching (no DataLoader workers), pure function."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from lilbench.data import Dataset
from lilbench.errors import LilbenchError
from lilbench.models import LILMLP, MODELS, ConvLIL, StackedLIL
from lilbench.models.functional import count_correct
from lilbench.objectives.isometry import isometry_error
from lilbench.training.config import TrainConfig

Progress = Callable[[int, int, int, dict[str, float]], None]
"""(steps done, total steps, epoch (1-based), running means of the objective's loss parts)."""

Model = LILMLP | StackedLIL | ConvLIL


class TrainingDiverged(LilbenchError):
    """The loss became NaN or infinite: nothing is saved."""


@dataclass
class TrainResult:
    model: Model
    metrics: dict[str, Any]


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)


def build_model(config: TrainConfig, data: Dataset) -> Model:
    family = MODELS.get(config.model_family)
    # What an image model needs to know of its data: shape and in-model normalisation.
    shape = {"image_shape": data.image_shape, "mean": data.mean, "std": data.std}
    model = family.build(
        input_dim=data.input_dim,
        level_classes=data.level_classes,
        options={**config.to_dict(), **shape},
    )
    return model  # type: ignore[return-value]


def _levels(data: Dataset, split: str) -> torch.Tensor:
    levels = data.levels_train if split == "train" else data.levels_test
    if levels is None:
        y = data.y_train if split == "train" else data.y_test
        return y[:, None]
    return levels


def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int = 5000) -> float:
    model.eval()
    return count_correct(model, x, y, batch) / len(x)


def model_dtype(model: nn.Module) -> torch.dtype:
    return next(model.parameters()).dtype


@torch.no_grad()
def float32_agreement(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict[str, Any]:
    """A float64 model beside its float32 cast (what ART and the attacks compute with): both
    clean accuracies and the number of test images on which their predictions differ."""
    import copy

    cast = copy.deepcopy(model).float().eval()
    p64 = torch.cat([model(c).argmax(1) for c in x.split(5000)])
    p32 = torch.cat([cast(c.float()).argmax(1) for c in x.split(5000)])
    return {
        "float32_clean_test_accuracy": float((p32 == y).double().mean()),
        "float32_prediction_differences": int((p64 != p32).sum()),
    }


@torch.no_grad()
def level_metrics(model: Model, data: Dataset, device: torch.device) -> dict[str, Any]:
    """Test accuracy and within-class isometry error (per level for stacked models); for a
    float64 model also its float32 cast's accuracy and disagreements."""
    model.eval()
    dtype = model_dtype(model)
    x = data.x_test.to(device, dtype)
    levels = _levels(data, "test").to(device)
    if isinstance(model, StackedLIL):
        outs = model.levels(x)
        accs = [
            float((o.logits.argmax(1) == levels[:, i]).float().mean()) for i, o in enumerate(outs)
        ]
        isos = [isometry_error(o.inputs, o.phi, levels[:, i]) for i, o in enumerate(outs)]
        return {
            "clean_test_accuracy": accs[-1],
            "test_isometry_error": isos[-1],
            "level_accuracy": accs,
            "level_isometry_error": isos,
        }
    return {
        "clean_test_accuracy": evaluate(model, x, levels[:, -1]),
        # phi in chunks: a convolutional model's activations on 10,000 images at once are
        # gigabytes.
        "test_isometry_error": isometry_error(
            x, torch.cat([model.features(c) for c in x.split(1000)]), levels[:, -1]
        ),
        **(float32_agreement(model, x, levels[:, -1]) if dtype != torch.float32 else {}),
    }


def train(
    config: TrainConfig,
    data: Dataset,
    *,
    device: torch.device | str = "cpu",
    progress: Progress | None = None,
) -> TrainResult:
    config = config.validate().normalised()
    from lilbench.training.batched import batch_key, train_batch

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
    l_train = _levels(data, "train")[: config.limit].to(device)
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
    if config.spectral_norm and isinstance(model, LILMLP):
        model.converge_spectral_norm()
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
