"""Parameter grids: the paper's log grid and user-given lists, validated to [0, 1]."""

from __future__ import annotations

import math

import numpy as np

from lilbench.errors import ConfigError

PAPER_BATCH = 100  # the authors' attack batch: L_iso's pairs are formed within it

PAPER_GRID: tuple[float, ...] = tuple(float(v) for v in np.logspace(-2, 0, 10))
"""eps = logspace(-2, 0, 10): 0.01 ... 1.0, the paper's FGSM eps and PGD step-size grid."""


def log_grid(start: float, stop: float, num: int) -> tuple[float, ...]:
    """num values from start to stop, evenly spaced in log10 (start, stop > 0)."""
    if num < 1:
        raise ConfigError(f"a grid needs at least 1 point, got {num}")
    if start <= 0 or stop <= 0:
        raise ConfigError(f"a log grid needs start and stop > 0, got {start}:{stop}")
    return tuple(float(v) for v in np.logspace(math.log10(start), math.log10(stop), num))


def parse_grid(text: str, *, what: str) -> tuple[float, ...]:
    """'START:STOP:NUM' -> a log grid."""
    parts = text.split(":")
    try:
        start, stop, num = float(parts[0]), float(parts[1]), int(parts[2])
        if len(parts) != 3:
            raise ValueError
    except (ValueError, IndexError):
        raise ConfigError(
            f"{what} grid must be START:STOP:NUM (e.g. 0.01:1:10), got {text!r}"
        ) from None
    return check_unit(log_grid(start, stop, num), what=what)


def parse_list(text: str, *, what: str) -> tuple[float, ...]:
    """'0.1,0.3' -> (0.1, 0.3)."""
    try:
        values = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise ConfigError(f"{what} must be numbers separated by commas, got {text!r}") from None
    if not values:
        raise ConfigError(f"{what} is empty")
    return check_unit(values, what=what)


def check_unit(values: tuple[float, ...], *, what: str) -> tuple[float, ...]:
    for v in values:
        if not (0.0 <= v <= 1.0) or math.isnan(v):
            raise ConfigError(f"{what} must lie in [0, 1] (inputs are pixels in [0, 1]), got {v:g}")
    return values
