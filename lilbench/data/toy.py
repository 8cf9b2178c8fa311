"""Toy manifolds of the paper's Section 3: linked rings and a torus with hierarchical labels.

Generated deterministically from a seed; inputs are 3-D coordinates (not pixels), so they are
for representation experiments, not for the [0, 1]-clipped image attacks.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import TYPE_CHECKING

from lilbench.data.base import Dataset, register_dataset
from lilbench.lazy import lazy_module

if TYPE_CHECKING:
    import torch
else:
    torch = lazy_module("torch")

TEST_FRACTION = 0.25


def _split(x: torch.Tensor, levels: torch.Tensor, seed: int, name: str, params: str) -> Dataset:
    """Seeded random train/test split; labels are the finest level, all levels kept."""
    gen = torch.Generator().manual_seed(seed + 1)
    order = torch.randperm(len(x), generator=gen)
    n_test = round(len(x) * TEST_FRACTION)
    test, train = order[:n_test], order[n_test:]
    num_classes = int(levels[:, -1].max()) + 1
    checksum = hashlib.sha256(f"{name}:{params}:seed={seed}".encode()).hexdigest()
    return Dataset(
        name=name,
        x_train=x[train].contiguous(),
        y_train=levels[train, -1].contiguous(),
        x_test=x[test].contiguous(),
        y_test=levels[test, -1].contiguous(),
        num_classes=num_classes,
        checksum=checksum,
        levels_train=levels[train].contiguous(),
        levels_test=levels[test].contiguous(),
    )


def make_rings(
    *, points_per_ring: int = 500, radius: float = 1.0, noise: float = 0.05, seed: int = 0
) -> Dataset:
    """Two linked rings in 3-D, one class each.

    Ring 0 lies in the xy-plane around the origin; ring 1 lies in the xz-plane around
    (radius, 0, 0), a point of ring 0's rim, so each ring passes through the other's disc.
    Defaults (lilbench's choice; the authors' generator is not public): 500 points per ring
    at uniformly random angles, radius 1, isotropic Gaussian noise with sigma 0.05.
    """
    gen = torch.Generator().manual_seed(seed)
    t0 = torch.rand(points_per_ring, generator=gen, dtype=torch.float64) * 2 * math.pi
    t1 = torch.rand(points_per_ring, generator=gen, dtype=torch.float64) * 2 * math.pi
    ring0 = torch.stack([radius * t0.cos(), radius * t0.sin(), torch.zeros_like(t0)], 1)
    ring1 = torch.stack([radius + radius * t1.cos(), torch.zeros_like(t1), radius * t1.sin()], 1)
    x = torch.cat([ring0, ring1]) + noise * torch.randn(
        2 * points_per_ring, 3, generator=gen, dtype=torch.float64
    )
    y = torch.cat([torch.zeros(points_per_ring), torch.ones(points_per_ring)]).long()
    params = f"n={points_per_ring},r={radius},noise={noise}"
    return _split(x.float(), y[:, None], seed, "rings", params)


def make_torus(
    *,
    grid: int = 40,
    big_r: float = 0.67,
    small_r: float = 0.33,
    noise: float = 1e-3,
    levels: int = 3,
    seed: int = 0,
) -> Dataset:
    """The paper's torus: a grid x grid angle grid, labels as bands of the angle phi.

    Level l (l = 0 .. levels-1) has 2^(l+1) classes: 2, 4, 8 by default. Each band of level l
    is split in two at level l+1, so every fine class lies inside one coarse class.
    """
    gen = torch.Generator().manual_seed(seed)
    angles = torch.arange(grid, dtype=torch.float64) * (2 * math.pi / grid)
    theta, phi = torch.meshgrid(angles, angles, indexing="ij")
    theta, phi = theta.reshape(-1), phi.reshape(-1)
    x = torch.stack(
        [
            (big_r + small_r * theta.cos()) * phi.cos(),
            (big_r + small_r * theta.cos()) * phi.sin(),
            small_r * theta.sin(),
        ],
        1,
    )
    x = x + noise * torch.randn(x.shape, generator=gen, dtype=torch.float64)
    frac = phi / (2 * math.pi)
    labels = torch.stack([(frac * 2 ** (lv + 1)).floor().long() for lv in range(levels)], 1)
    params = f"grid={grid},R={big_r},r={small_r},noise={noise},levels={levels}"
    return _split(x.float(), labels, seed, "torus", params)


@register_dataset("rings")
def _load_rings(data_dir: Path, seed: int = 0) -> Dataset:
    del data_dir  # generated, nothing on disk
    return make_rings(seed=seed)


@register_dataset("torus")
def _load_torus(data_dir: Path, seed: int = 0) -> Dataset:
    del data_dir
    return make_torus(seed=seed)
