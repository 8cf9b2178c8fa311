"""What the trainers share (the one-model loop in train.py and the batched pass in
batched.py): results, seeding, building a model from its family, and the end-of-training
metrics."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

from lilbench.data import Dataset
from lilbench.errors import LilbenchError
from lilbench.lazy import lazy_module, no_grad
from lilbench.models.families import DataShape
from lilbench.objectives.isometry import isometry_error
from lilbench.training.config import TrainConfig

if TYPE_CHECKING:
    import torch
    from torch import nn
else:
    torch = lazy_module("torch")

Progress = Callable[[int, int, int, dict[str, float]], None]
"""(steps done, total steps, epoch (1-based), running means of the objective's loss parts)."""

Model: TypeAlias = "nn.Module"  # a model family's module (models/family.py: what it offers)


class TrainingDiverged(LilbenchError):
    """The loss became NaN or infinite: nothing is saved."""


@dataclass
class TrainResult:
    model: Model
    metrics: dict[str, Any]


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)


def data_shape(data: Dataset) -> DataShape:
    """What a family needs to know of the data: sizes, and for images their shape and the
    in-model normalisation."""
    return DataShape(
        dataset=data.name,
        input_dim=data.input_dim,
        level_classes=tuple(data.level_classes),
        image_shape=tuple(data.image_shape) if data.image_shape else None,
        mean=tuple(data.mean) if data.mean is not None else None,
        std=tuple(data.std) if data.std is not None else None,
    )


def build_model(config: TrainConfig, data: Dataset) -> Model:
    return config.family.build(config.params, data_shape(data))


def levels_of(data: Dataset, split: str) -> torch.Tensor:
    levels = data.levels_train if split == "train" else data.levels_test
    if levels is None:
        y = data.y_train if split == "train" else data.y_test
        return y[:, None]
    return levels


def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int = 5000) -> float:
    from lilbench.models.functional import count_correct  # torch: when a model is evaluated

    model.eval()
    return count_correct(model, x, y, batch) / len(x)


def model_dtype(model: nn.Module) -> torch.dtype:
    return next(model.parameters()).dtype


@no_grad
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


@no_grad
def level_metrics(model: Model, data: Dataset, device: torch.device) -> dict[str, Any]:
    """Test accuracy and within-class isometry error (per level for stacked models); for a
    float64 model also its float32 cast's accuracy and disagreements."""
    model.eval()
    dtype = model_dtype(model)
    x = data.x_test.to(device, dtype)
    levels = levels_of(data, "test").to(device)
    if len(model.levels(x[:1])) > 1:  # type: ignore[operator]  # a stacked model
        outs = model.levels(x)  # type: ignore[operator]
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
            x,
            torch.cat([model.features(c) for c in x.split(1000)]),  # type: ignore[operator]
            levels[:, -1],
        ),
        **(float32_agreement(model, x, levels[:, -1]) if dtype != torch.float32 else {}),
    }
