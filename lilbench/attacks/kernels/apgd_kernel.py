"""APGD's momentum step on the CPU in one compiled pass (numba), in float32 throughout and
without fast-math, so every rounding is the one torch's separate float32 operations make
(the bit-identity test with ART runs through this kernel)."""

from __future__ import annotations

import numpy as np
from numba import njit

F32 = np.float32


@njit(cache=True)
def momentum_step(
    x_k: np.ndarray,
    x_km1: np.ndarray,
    x_init: np.ndarray,
    grad: np.ndarray,
    eta: np.ndarray,
    direction: float,
    e: float,
    out: np.ndarray,
) -> None:
    """out = P(x_k + 0.75 (P(clip(x_k + eta sign(d g))) - x_k) + 0.25 (x_k - x_k-1)), with
    P the projection onto the eps ball around x_init and clip to [0, 1] (ART's order)."""
    d = F32(direction)
    lo, hi = F32(-e), F32(e)
    zero, one = F32(0.0), F32(1.0)
    a, b = F32(0.75), F32(0.25)
    n, dim = x_k.shape
    for r in range(n):
        step = eta[r]
        for i in range(dim):
            g = d * grad[r, i]
            s = one if g > 0 else (-one if g < 0 else (g if g != g else zero))  # sign, NaN kept
            xk = x_k[r, i]
            x0 = x_init[r, i]
            z = min(max(xk + step * s, zero), one)
            z = min(max(z - x0, lo), hi) + x0
            v = (xk + a * (z - xk)) + b * (xk - x_km1[r, i])
            v = min(max(v, zero), one)
            out[r, i] = min(max(v - x0, lo), hi) + x0
