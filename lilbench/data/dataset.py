"""The data set type every loader returns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from lilbench.errors import DataError
from lilbench.lazy import lazy_module

if TYPE_CHECKING:
    import torch
else:
    torch = lazy_module("torch")


@dataclass(frozen=True)
class Dataset:
    """Train/test tensors: x float32 [n, d] in [0, 1] for images, y int64 [n]."""

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int
    checksum: str  # identifies the exact content; recorded in checkpoints
    # Hierarchical labels [n, levels], coarse to fine (the last column is y); None if flat.
    levels_train: torch.Tensor | None = None
    levels_test: torch.Tensor | None = None
    pixels: bool = False  # inputs are images in [0, 1] (what the clipped attacks assume)
    # One input as an image, (channels, height, width); None: square grey images are inferred.
    shape: tuple[int, ...] | None = None
    # Per-channel normalisation a model applies to its inputs *inside* itself, so that
    # attacks and eps stay in pixel space; None: the model sees the pixels as they are.
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None

    @property
    def input_dim(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def image_shape(self) -> tuple[int, ...]:
        """The shape of one input as an image, (C, H, W) (what a convolutional model and
        ART's Square attack take); lilbench itself works on the flat vectors. (1, side, side)
        for square grey images, (d,) for data that are not images."""
        if self.shape is not None:
            return self.shape
        side = round(self.input_dim**0.5)
        if self.pixels and side * side == self.input_dim:
            return (1, side, side)
        return (self.input_dim,)

    def check_trainable(self) -> None:
        """Refuse to train on data without a training split (a user's test set alone)."""
        if len(self.x_train) == 0:
            raise DataError(
                f"{self.name} has no training split (x_train, y_train): it can evaluate a "
                "model (--model, lilbench.evaluate), not train one"
            )

    @property
    def level_classes(self) -> list[int]:
        """Classes per label level (one level for flat data sets)."""
        if self.levels_train is None:
            return [self.num_classes]
        return [int(self.levels_train[:, i].max()) + 1 for i in range(self.levels_train.shape[1])]
