"""Numbers a report shows: accuracy curves and the normalised area under them."""

from __future__ import annotations

import math

from lilbench.schemas import AttackRecord


def curve(record: AttackRecord) -> tuple[list[float], list[float]]:
    """(x, accuracy) along the record's sweep (eps, or step size), sorted by x."""
    pts = sorted(record.points, key=lambda p: p.along(record.sweep))
    return [p.along(record.sweep) for p in pts], [p.accuracy for p in pts]


def normalised_auc(xs: list[float], ys: list[float]) -> float:
    """Area under accuracy vs log10(x) (trapezoids), divided by the log10 range: in [0, 1].

    A single point (or x values that are not all > 0) gives the mean accuracy.
    """
    if len(xs) < 2 or min(xs) <= 0 or xs[0] == xs[-1]:
        return sum(ys) / len(ys)
    lx = [math.log10(x) for x in xs]
    area = sum((lx[i + 1] - lx[i]) * (ys[i] + ys[i + 1]) / 2 for i in range(len(xs) - 1))
    return area / (lx[-1] - lx[0])
