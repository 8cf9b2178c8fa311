"""Image operations more than one corruption set uses."""

from __future__ import annotations

import numpy as np


def plasma(size: int, rng: np.random.Generator, decay: float) -> np.ndarray:
    """A plasma fractal (diamond-square) on a size x size grid (size a power of 2), in
    [0, 1]: each halving of the step scales the random displacements by 1 / decay."""
    grid = np.zeros((size, size))
    step, amp = size, 100.0
    while step > 1:
        half = step // 2
        amp /= decay
        # diamond: the centre of each square from its 4 corners (the grid wraps)
        corners = grid[0:size:step, 0:size:step]
        mean = (
            corners
            + np.roll(corners, -1, axis=0)
            + np.roll(corners, -1, axis=1)
            + np.roll(np.roll(corners, -1, axis=0), -1, axis=1)
        ) / 4
        grid[half:size:step, half:size:step] = mean + rng.uniform(-amp, amp, mean.shape)
        # square: each edge midpoint from its two corners and two centres
        centres = grid[half:size:step, half:size:step]
        top = grid[0:size:step, 0:size:step]
        row = (top + np.roll(top, -1, axis=1) + centres + np.roll(centres, 1, axis=0)) / 4
        grid[0:size:step, half:size:step] = row + rng.uniform(-amp, amp, row.shape)
        col = (top + np.roll(top, -1, axis=0) + centres + np.roll(centres, 1, axis=1)) / 4
        grid[half:size:step, 0:size:step] = col + rng.uniform(-amp, amp, col.shape)
        step = half
    grid -= grid.min()
    top_value = grid.max()
    return grid / top_value if top_value > 0 else grid
