"""Model families by name (the `type` recorded in a checkpoint's architecture)."""

from __future__ import annotations

from typing import Any, Protocol

import torch
from torch import nn

from lilbench.registry import Registry


class ModelFamily(Protocol):
    """A classifier class lilbench can build, save and load: logits from `forward`, the
    representation phi (where L_iso acts) from `features`."""

    @classmethod
    def build(
        cls, *, input_dim: int, level_classes: list[int], options: dict[str, Any]
    ) -> nn.Module:
        """A fresh model for data of this shape; `options` are the training config's fields."""
        ...

    @classmethod
    def from_architecture(cls, arch: dict[str, Any]) -> nn.Module:
        """The model a checkpoint's architecture metadata describes (weights not loaded)."""
        ...

    def features(self, x: torch.Tensor) -> torch.Tensor: ...

    def layers(self) -> list[nn.Module]:
        """The modules `forward` applies, in order: what certification bounds."""
        ...


MODELS: Registry[type[ModelFamily]] = Registry("model family")
