"""A convolutional feature extractor with an LIL head (the authors' CIFAR-10 network).

Input: flat pixel vectors in [0, 1] (as every lilbench model takes them), reshaped to the
data set's (C, H, W) and normalised *inside* the model, so attacks and eps stay in pixel
space. Then `channels` blocks of conv 3x3 (padding 1) -> ReLU -> 2x2 max-pool, trained
jointly with the head; then the LIL MLP head, `depth` layers of `width` units, whose last
hidden layer is phi (where L_iso acts); then a linear classifier. Kernel size and padding are
not given in the authors' description; 3x3 with padding 1 is the common choice.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from lilbench.errors import ConfigError
from lilbench.models.family import LevelOutput
from lilbench.models.lil import ACTIVATIONS

POOLS: dict[str, type[nn.Module]] = {"max": nn.MaxPool2d, "avg": nn.AvgPool2d}


@dataclass(frozen=True)
class ConvSpec:
    image_shape: tuple[int, int, int]
    channels: tuple[int, ...]
    width: int
    depth: int
    activation: str = "tanh"
    num_classes: int = 10
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    pool: str = "max"  # or "avg" (checkpoints before it: max)

    def validate(self) -> None:
        if len(self.image_shape) != 3:
            raise ConfigError(
                f"a convolutional model needs image inputs (C, H, W), got shape {self.image_shape}"
            )
        c, h, w = self.image_shape
        if h >> len(self.channels) < 1 or w >> len(self.channels) < 1:
            raise ConfigError(
                f"{len(self.channels)} pooling steps shrink {h}x{w} images to nothing"
            )
        if self.activation not in ACTIVATIONS:
            raise ConfigError(f"unknown activation {self.activation!r}")
        if self.pool not in POOLS:
            raise ConfigError(f"unknown pooling {self.pool!r}; known: {', '.join(POOLS)}")
        for name in ("width", "depth", "num_classes"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        for stats in (self.mean, self.std):
            if stats is not None and len(stats) != c:
                raise ConfigError(f"normalisation has {len(stats)} values for {c} channels")

    @property
    def input_dim(self) -> int:
        c, h, w = self.image_shape
        return c * h * w

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if d["pool"] == "max":  # as checkpoints were written before `pool`
            del d["pool"]
        return d


class Normalise(nn.Module):
    """(x - mean) / std per channel, on (N, C, H, W)."""

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, mean: tuple[float, ...], std: tuple[float, ...]) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class ConvLIL(nn.Module):
    def __init__(self, spec: ConvSpec) -> None:
        super().__init__()
        spec.validate()
        self.spec = spec
        c, h, w = spec.image_shape
        pre: list[nn.Module] = [nn.Unflatten(1, spec.image_shape)]
        if spec.mean is not None and spec.std is not None:
            pre.append(Normalise(spec.mean, spec.std))
        for out in spec.channels:
            pre += [nn.Conv2d(c, out, 3, padding=1), nn.ReLU(), POOLS[spec.pool](2)]
            c, h, w = out, h // 2, w // 2
        pre.append(nn.Flatten())
        self.extractor = nn.Sequential(*pre)
        layers: list[nn.Module] = []
        fan_in = c * h * w
        for _ in range(spec.depth):
            layers += [nn.Linear(fan_in, spec.width), ACTIVATIONS[spec.activation]()]
            fan_in = spec.width
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(spec.width, spec.num_classes)

    def layers(self) -> list[nn.Module]:
        """The modules `forward` applies, in order (certificates pass through the
        convolutions and refuse the max-pooling by name)."""
        return [*self.extractor, *self.body, self.head]

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """phi(x): the LIL head's last hidden layer."""
        return self.body(self.extractor(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    def forward_with_features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        phi = self.features(x)
        return self.head(phi), phi

    def levels(self, x: torch.Tensor) -> list[LevelOutput]:
        logits, phi = self.forward_with_features(x)
        return [LevelOutput(logits, phi, x)]
