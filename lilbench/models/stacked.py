"""Stacked (hierarchical) LILs: one LIL block per label level, coarse to fine.

Block b reads block b-1's representation and is trained on level b's labels with its own
partition G. With `detach` (the paper's setting) block b's input is detached, so level b's
loss reaches only block b (and its head). Heads: one linear classifier per level, or one
shared linear layer whose output is split into the levels' logits.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from lilbench.errors import ConfigError
from lilbench.models.family import LevelOutput
from lilbench.models.lil import ACTIVATIONS
from lilbench.models.names import HEADS


@dataclass(frozen=True)
class StackedSpec:
    input_dim: int
    level_classes: tuple[int, ...]
    width: int = 20
    depth: int = 4
    activation: str = "tanh"
    head: str = "per-level"
    detach: bool = True

    def validate(self) -> None:
        if self.head not in HEADS:
            raise ConfigError(f"unknown head {self.head!r}; known: {', '.join(HEADS)}")
        if self.activation not in ACTIVATIONS:
            raise ConfigError(f"unknown activation {self.activation!r}")
        if not self.level_classes or min(self.level_classes) < 2:
            raise ConfigError("a hierarchy needs at least one level with >= 2 classes")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class StackedLIL(nn.Module):
    def __init__(self, spec: StackedSpec) -> None:
        super().__init__()
        spec.validate()
        self.spec = spec
        blocks = []
        fan_in = spec.input_dim
        for _ in spec.level_classes:
            layers: list[nn.Module] = []
            for _ in range(spec.depth):
                layers += [nn.Linear(fan_in, spec.width), ACTIVATIONS[spec.activation]()]
                fan_in = spec.width
            blocks.append(nn.Sequential(*layers))
        self.blocks = nn.ModuleList(blocks)
        if spec.head == "per-level":
            self.heads = nn.ModuleList(nn.Linear(spec.width, c) for c in spec.level_classes)
        else:
            self.heads = nn.ModuleList([nn.Linear(spec.width, sum(spec.level_classes))])

    def _logits(self, level: int, phi: torch.Tensor) -> torch.Tensor:
        if self.spec.head == "per-level":
            out: torch.Tensor = self.heads[level](phi)
            return out
        start = sum(self.spec.level_classes[:level])
        return self.heads[0](phi)[:, start : start + self.spec.level_classes[level]]

    def levels(self, x: torch.Tensor) -> list[LevelOutput]:
        outs = []
        h = x
        for b, block in enumerate(self.blocks):
            # Isolation is a training-time choice: in eval mode gradients flow end to end, so
            # attacks and diagnostics see the whole map x -> logits.
            isolate = self.spec.detach and self.training and b > 0
            inp = h.detach() if isolate else h
            phi = block(inp)
            outs.append(LevelOutput(self._logits(b, phi), phi, inp))
            h = phi
        return outs

    def layers(self) -> list[nn.Module]:
        """The modules that `forward` (the finest level) applies, in order."""
        body: list[nn.Module] = [m for block in self.blocks for m in block]  # type: ignore[attr-defined]
        if self.spec.head == "per-level":
            return [*body, self.heads[-1]]
        shared = self.heads[0]
        assert isinstance(shared, nn.Linear)
        start = sum(self.spec.level_classes[:-1])
        head = nn.Linear(shared.in_features, self.spec.level_classes[-1])
        with torch.no_grad():  # the finest level's rows of the shared head
            head.weight.copy_(shared.weight[start:])
            head.bias.copy_(shared.bias[start:])
        return [*body, head]

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.levels(x)[-1].phi

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of the finest level."""
        return self.levels(x)[-1].logits

    def forward_with_features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        last = self.levels(x)[-1]
        return last.logits, last.phi
