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
    points = [float(v) for v in np.logspace(math.log10(start), math.log10(stop), num)]
    points[0], points[-1] = float(start), float(stop)  # log10 then 10** is not exact
    return tuple(_round_decimal(v) for v in points)


def _round_decimal(v: float) -> float:
    """v, or the decimal with at most 10 significant digits it lies within float error of
    (0.29999999999999993 -> 0.3, 0.03000000000000001 -> 0.03): the value stored is then the
    value printed. Other points are left exactly as numpy computes them, so that the grids
    of earlier versions keep their record keys."""
    short = float(f"{v:.10g}")
    return short if abs(short - v) <= 4 * math.ulp(v) else v


def legacy_log_grid(values: tuple[float, ...]) -> tuple[float, ...] | None:
    """The grid an earlier version stored for the log grid `values` (before endpoints were
    made exact), or None when `values` is no such grid or nothing changed."""
    if len(values) < 2 or values[0] <= 0 or values[-1] <= 0:
        return None
    start, stop, num = values[0], values[-1], len(values)
    if log_grid(start, stop, num) != values:
        return None
    old = tuple(float(v) for v in np.logspace(math.log10(start), math.log10(stop), num))
    return old if old != values else None


def parse_grid(text: str, *, what: str, unit: bool = True) -> tuple[float, ...]:
    """'START:STOP:NUM' -> a log grid (checked to lie in [0, 1] unless `unit` is False: an
    attack's own validation then checks the radii for its norm)."""
    parts = text.split(":")
    try:
        start, stop, num = float(parts[0]), float(parts[1]), int(parts[2])
        if len(parts) != 3:
            raise ValueError
    except (ValueError, IndexError):
        raise ConfigError(
            f"{what} grid must be START:STOP:NUM (e.g. 0.01:1:10), got {text!r}"
        ) from None
    grid = log_grid(start, stop, num)
    return check_unit(grid, what=what) if unit else grid


def parse_list(text: str, *, what: str, unit: bool = True) -> tuple[float, ...]:
    """'0.1,0.3' -> (0.1, 0.3) (in [0, 1] unless `unit` is False, as for parse_grid)."""
    parts = [v.strip() for v in text.split(",")]
    if not any(parts):
        raise ConfigError(f"{what} is empty")
    if not all(parts):
        raise ConfigError(f"{what} has an empty entry (two commas in a row?), got {text!r}")
    try:
        values = tuple(float(v) for v in parts)
    except ValueError:
        raise ConfigError(f"{what} must be numbers separated by commas, got {text!r}") from None
    values = check_distinct(values, what=what)
    return check_unit(values, what=what) if unit else values


def check_distinct(values: tuple[float, ...], *, what: str) -> tuple[float, ...]:
    """`values`, when none is given twice (a repeat would run and print the same row twice)."""
    seen: set[float] = set()
    for v in values:
        if v in seen:
            raise ConfigError(f"{what} gives {v:g} twice; list each value once")
        seen.add(v)
    return values


def check_unit(values: tuple[float, ...], *, what: str) -> tuple[float, ...]:
    for v in values:
        if not (0.0 <= v <= 1.0) or math.isnan(v):
            raise ConfigError(f"{what} must lie in [0, 1] (inputs are pixels in [0, 1]), got {v:g}")
    return values
