"""The network as a chain: z = W_L act(... act(W_1 x + b_1) ...) + b_L, in float64, with one
registered relaxation per activation; and the margin rows a certificate bounds."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lilbench.certify.affine import SUPPORTED, dense, is_affine
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
    def from_layers(
        cls, layers: Sequence[nn.Module], input_shape: tuple[int, ...] | None = None
    ) -> Chain:
        """The chain of `layers` applied in order to inputs of `input_shape` (default: read
        from a first Linear or Unflatten layer): each run of affine layers between two
        activations becomes one dense map (`affine.py`)."""
        shape = input_shape or _first_shape(layers)
        weights: list[torch.Tensor] = []
        biases: list[torch.Tensor] = []
        acts: list[Relaxation] = []
        for run, relax in cls.runs(layers):
            w, b, shape = dense(run, shape)
            weights.append(w)
            biases.append(b)
            if relax is not None:
                acts.append(relax)
        if len(shape) != 1:
            raise ConfigError(f"certify: the network's output has shape {shape}, not (classes,)")
        return cls(weights, biases, acts)

    @staticmethod
    def runs(layers: Sequence[nn.Module]) -> list[tuple[list[nn.Module], Relaxation | None]]:
        """The runs of affine layers, each with the activation after it (None after the last),
        computing nothing: a layer certificates cannot take is refused here, so a suite can
        ask before it trains anything."""
        found: list[tuple[list[nn.Module], Relaxation | None]] = []
        run: list[nn.Module] = []
        for layer in layers:
            relax = relaxation_for(layer)
            if relax is not None:
                if not run:
                    raise ConfigError(
                        "certify: expected affine layers with one activation between each"
                    )
                found.append((run, relax))
                run = []
            elif is_affine(layer):
                run.append(layer)
            else:
                raise ConfigError(
                    f"certify: cannot bound a {type(layer).__name__} layer; certificates pass "
                    f"through {SUPPORTED} and the activations {', '.join(RELAXATIONS.names())}"
                )
        if not run:
            raise ConfigError("certify: expected the network to end in an affine layer")
        return [*found, (run, None)]

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


def _first_shape(layers: Sequence[nn.Module]) -> tuple[int, ...]:
    first = layers[0] if layers else None
    if isinstance(first, nn.Linear):
        return (int(first.in_features),)
    if isinstance(first, nn.Unflatten):
        return (math.prod(int(s) for s in first.unflattened_size),)
    raise ConfigError(
        f"certify: give the input shape of a network that starts with "
        f"{type(first).__name__ if first is not None else 'no layer'}"
    )


def margin_matrix(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """[N, K-1, K]: row j of example n is e_y - e_j, for every class j != y."""
    eye = torch.eye(num_classes, dtype=torch.float64)
    rows = eye[labels][:, None, :] - eye[None, :, :]  # [N, K, K]
    others = ~eye.bool()[labels]  # [N, K]: j != y
    return rows[others].reshape(len(labels), num_classes - 1, num_classes)
