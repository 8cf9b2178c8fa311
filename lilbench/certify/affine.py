"""The affine layers a certificate passes through as one matrix each: a run of Linear,
Conv2d, AvgPool2d, BatchNorm (eval mode: folded into the run), Flatten, Unflatten, lilbench's
input normalisation and Dropout (eval mode: the identity) between two activations is one
affine map W x + b on the flat vectors, read off exactly by applying the run, in float64, to
the identity matrix and to zero.

Dense matrices keep the bounds' code one loop for every network (convolutions included), at
a memory cost of 8 bytes per (output, input) pair: a run whose matrix would pass MAX_BYTES
is refused in one line before any work. Layers outside this list (max-pooling, attention,
residual blocks) are refused by name.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from lilbench.errors import ConfigError
from lilbench.lazy import lazy_module

if TYPE_CHECKING:
    import torch
    from torch import nn
else:
    torch = lazy_module("torch")
    nn = lazy_module("torch.nn")

# torch.nn classes (by name) that are affine in eval mode; lilbench's Normalise too
AFFINE = (
    "Linear",
    "Conv2d",
    "AvgPool2d",
    "BatchNorm1d",
    "BatchNorm2d",
    "Flatten",
    "Unflatten",
    "Dropout",
    "Normalise",
)
SUPPORTED = "Linear, Conv2d, AvgPool2d, BatchNorm1d/2d, Flatten, Unflatten, Dropout"
MAX_BYTES = 2 * 1024**3


def is_affine(layer: nn.Module) -> bool:
    cls = type(layer)
    from torch.nn.utils import parametrize

    if parametrize.is_parametrized(layer):
        # torch's parametrize (spectral_norm, weight_norm) subclasses the layer's class and
        # recomputes its weight, leaving the forward pass, so the layer is what its class is
        cls = cls.__bases__[0]
    name, origin = cls.__name__, cls.__module__
    return name in AFFINE and (origin.startswith("torch") or origin.startswith("lilbench"))


def dense(
    run: Sequence[nn.Module], in_shape: tuple[int, ...]
) -> tuple[torch.Tensor, torch.Tensor, tuple[int, ...]]:
    """(W [out, in], b [out], the output's shape) of a run of affine layers applied to
    inputs of `in_shape` (one example, no batch axis)."""
    layers = [copy.deepcopy(m).double().eval() for m in run]
    if len(layers) == 1 and isinstance(layers[0], nn.Linear) and len(in_shape) == 1:
        w = layers[0].weight.detach()
        bias = layers[0].bias
        b = bias.detach() if bias is not None else torch.zeros(w.shape[0], dtype=torch.float64)
        return w.clone(), b.clone(), (int(w.shape[0]),)
    d = math.prod(in_shape)

    def apply(x: torch.Tensor) -> torch.Tensor:
        for m in layers:
            x = m(x)
        return x

    with torch.no_grad():
        try:
            zero = apply(torch.zeros((1, *in_shape), dtype=torch.float64))
        except RuntimeError as exc:  # a shape the layers cannot take
            names = ", ".join(type(m).__name__ for m in run)
            raise ConfigError(
                f"certify: {names} cannot take inputs of shape {in_shape} ({exc})"
            ) from None
        out_shape = tuple(int(s) for s in zero.shape[1:])
        out = math.prod(out_shape)
        if out * d * 8 > MAX_BYTES:
            names = ", ".join(type(m).__name__ for m in run)
            raise ConfigError(
                f"certify: {names} as one dense map would take {out * d * 8 / 2**30:.1f} GiB "
                f"({out} x {d}); certify a smaller network or smaller images"
            )
        w = torch.empty(out, d, dtype=torch.float64)
        step = max(1, (256 * 1024**2) // max(1, 8 * out))  # identity columns per pass
        for start in range(0, d, step):
            stop = min(d, start + step)
            eye = torch.zeros(stop - start, d, dtype=torch.float64)
            eye[torch.arange(stop - start), torch.arange(start, stop)] = 1.0
            w[:, start:stop] = (
                (apply(eye.reshape(-1, *in_shape)) - zero).reshape(stop - start, -1).T
            )
    return w, zero.reshape(-1).clone(), out_shape
