"""The LIL objective `alpha * CE + beta * L_iso`, as in the paper and the authors' code.

L_iso = mean over the B x B batch matrix of (G * (K * D_phi - D_x))**2: divided by B^2, not by
the number of same-class pairs. D are plain (not squared) pairwise distances. G[i, j] = 1 when
i and j share a label (diagonal included) in `local` mode, G = 1 in `global` mode.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from lilbench.errors import ConfigError
from lilbench.lazy import lazy_module, no_grad

if TYPE_CHECKING:
    import torch
    import torch.nn.functional as F
else:
    torch = lazy_module("torch")
    F = lazy_module("torch.nn.functional")

Mode = Literal["local", "global", "none"]
MODES: tuple[str, ...] = ("local", "global", "none")

PairwiseMetric = Callable[["torch.Tensor"], "torch.Tensor"]
"""Maps a batch [B, d] to its B x B distance matrix."""


def euclidean_distances(z: torch.Tensor) -> torch.Tensor:
    """Pairwise Euclidean distances, B x B, with an exact zero diagonal.

    The matrix-product form (|a|^2 + |b|^2 - 2ab) is 3-6x faster than the direct one, forward
    and backward, but leaves rounding noise on the diagonal whose sqrt has a huge gradient;
    the mask makes the diagonal exactly 0 with zero gradient.
    """
    d = torch.cdist(z, z, compute_mode="use_mm_for_euclid_dist")
    return d * _off_diagonal(len(z), z.device, z.dtype)


@functools.lru_cache(maxsize=16)
def _off_diagonal(n: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """1 off the diagonal, 0 on it (cached: every training step asks for the same size)."""
    return 1.0 - torch.eye(n, device=device, dtype=dtype)


# Another metric (L1, cosine, ...) is one function added here.
METRICS: dict[str, PairwiseMetric] = {"euclidean": euclidean_distances}


def get_metric(name: str) -> PairwiseMetric:
    try:
        return METRICS[name]
    except KeyError:
        raise ConfigError(f"unknown metric {name!r}; known: {', '.join(METRICS)}") from None


def pair_mask(y: torch.Tensor, mode: str) -> torch.Tensor:
    """G: which pairs the isometry is imposed on (float, B x B)."""
    if mode == "local":
        return (y[:, None] == y[None, :]).to(torch.float32)
    if mode == "global":
        return torch.ones(len(y), len(y), device=y.device)
    if mode == "none":
        return torch.zeros(len(y), len(y), device=y.device)
    raise ConfigError(f"unknown mode {mode!r}; known: {', '.join(MODES)}")


def iso_loss(
    x: torch.Tensor,
    phi: torch.Tensor,
    y: torch.Tensor,
    *,
    mode: str = "local",
    k: float = 1.0,
    metric: str = "euclidean",
) -> torch.Tensor:
    """L_iso on one batch; x and phi are flattened to [B, -1]."""
    dist = get_metric(metric)
    g = pair_mask(y, mode).to(phi.dtype)
    d_x = dist(x.reshape(len(x), -1))
    d_phi = dist(phi.reshape(len(phi), -1))
    return ((g * (k * d_phi - d_x)) ** 2).mean()


@dataclass(frozen=True)
class LossParts:
    total: torch.Tensor
    ce: torch.Tensor
    iso: torch.Tensor


def lil_loss(
    logits: torch.Tensor,
    phi: torch.Tensor,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    alpha: float = 1.0,
    beta: float = 0.0,
    mode: str = "local",
    k: float = 1.0,
    metric: str = "euclidean",
) -> LossParts:
    ce = F.cross_entropy(logits, y)
    if mode == "none" or beta == 0.0:
        # Still reported (detached) so beta = 0 runs show how isometric they happen to be.
        with torch.no_grad():
            iso = iso_loss(x, phi, y, mode="local" if mode == "none" else mode, k=k, metric=metric)
        return LossParts(total=alpha * ce, ce=ce, iso=iso)
    iso = iso_loss(x, phi, y, mode=mode, k=k, metric=metric)
    return LossParts(total=alpha * ce + beta * iso, ce=ce, iso=iso)


@no_grad
def isometry_error(
    x: torch.Tensor, phi: torch.Tensor, y: torch.Tensor, *, metric: str = "euclidean"
) -> float:
    """mean |D_phi - D_x| / mean D_x over distinct same-class pairs (0 for an exact isometry).

    Computed class by class so a 10,000-point test set needs no 10k x 10k matrix.
    """
    dist = get_metric(metric)
    abs_sum = 0.0
    x_sum = 0.0
    for c in torch.unique(y):
        idx = (y == c).nonzero(as_tuple=True)[0]
        if len(idx) < 2:
            continue
        d_x = dist(x[idx].reshape(len(idx), -1).double())
        d_phi = dist(phi[idx].reshape(len(idx), -1).double())
        off = ~torch.eye(len(idx), dtype=torch.bool, device=x.device)
        abs_sum += float((d_phi - d_x).abs()[off].sum())
        x_sum += float(d_x[off].sum())
    if x_sum == 0.0:
        raise ValueError("isometry error needs at least one same-class pair of distinct points")
    return abs_sum / x_sum
