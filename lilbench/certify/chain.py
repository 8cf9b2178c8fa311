"""The network as a chain: z = W_L act(... act(W_1 x + b_1) ...) + b_L, in float64, with one
registered relaxation per activation; and the margin rows a certificate bounds."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lilbench.certify.relax import RELAXATIONS, Relaxation, relaxation_for
from lilbench.errors import ConfigError
from lilbench.lazy import lazy_module

if TYPE_CHECKING:
    import torch
    from torch import nn
else:
    torch = lazy_module("torch")
    nn = lazy_module("torch.nn")


@dataclass(frozen=True)
class Chain:
    weights: list[torch.Tensor]  # [out, in]
    biases: list[torch.Tensor]
    activations: list[Relaxation]  # one after each layer but the last

    @classmethod
    def from_layers(cls, layers: Sequence[nn.Module]) -> Chain:
        weights: list[torch.Tensor] = []
        biases: list[torch.Tensor] = []
        acts: list[Relaxation] = []
        for layer in layers:
            relax = relaxation_for(layer)
            if isinstance(layer, nn.Linear):
                weights.append(layer.weight.detach().double().cpu())
                bias = layer.bias if layer.bias is not None else torch.zeros(layer.out_features)
                biases.append(bias.detach().double().cpu())
            elif relax is not None:
                if len(acts) != len(weights) - 1:
                    raise ConfigError("certify: two activations in a row are not supported")
                acts.append(relax)
            elif isinstance(layer, nn.Conv2d | nn.Unflatten):
                raise ConfigError(
                    "certify bounds MLPs (linear layers with "
                    f"{', '.join(RELAXATIONS.names())} between them); this model has a "
                    "convolutional feature extractor"
                )
            else:
                raise ConfigError(f"certify: cannot bound a {type(layer).__name__} layer")
        if not weights or len(acts) != len(weights) - 1:
            raise ConfigError("certify: expected linear layers with one activation between each")
        return cls(weights, biases, acts)

    @property
    def num_classes(self) -> int:
        return int(self.weights[-1].shape[0])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.double()
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            h = h @ w.T + b
            if i < len(self.activations):
                h = self.activations[i].apply(h)
        return h


def margin_matrix(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """[N, K-1, K]: row j of example n is e_y - e_j, for every class j != y."""
    eye = torch.eye(num_classes, dtype=torch.float64)
    rows = eye[labels][:, None, :] - eye[None, :, :]  # [N, K, K]
    others = ~eye.bool()[labels]  # [N, K]: j != y
    return rows[others].reshape(len(labels), num_classes - 1, num_classes)
