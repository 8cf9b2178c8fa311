"""Means and 95% intervals over seeds (Student's t), and log-eps interpolation."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class Estimate:
    mean: float
    low: float
    high: float
    n: int

    def fmt(self, digits: int = 4, scale: float = 1.0) -> str:
        m = self.mean * scale
        if self.n < 2:
            return f"{m:.{digits}f}"
        return f"{m:.{digits}f} [{self.low * scale:.{digits}f}, {self.high * scale:.{digits}f}]"


def estimate(values: list[float]) -> Estimate:
    """Mean and 95% t-interval; with one value the interval is the value itself (n = 1)."""
    n = len(values)
    if n == 0:
        raise ValueError("no values")
    mean = sum(values) / n
    if n < 2:
        return Estimate(mean, mean, mean, n)
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = float(stats.t.ppf(0.975, n - 1)) * sd / math.sqrt(n)
    return Estimate(mean, mean - half, mean + half, n)


def proportion_estimate(values: list[float]) -> Estimate:
    """Mean of proportions over seeds with a 95% interval inside [0, 1]: Student's t on the
    logit scale, mapped back (a t interval on the proportions themselves can run below 0 or
    above 1 on 3 seeds). A value of exactly 0 or 1 is moved in by 1e-4 before the logit."""
    plain = estimate(values)  # the mean, and the n < 2 and empty cases
    if plain.n < 2:
        return plain
    mean = plain.mean
    logits = [math.log(q / (1 - q)) for q in (min(max(v, 1e-4), 1 - 1e-4) for v in values)]
    e = estimate(logits)
    low, high = (1 / (1 + math.exp(-t)) for t in (e.low, e.high))
    return Estimate(mean, min(low, mean), max(high, mean), plain.n)


def halving_eps(xs: list[float], ys: list[float], clean: float) -> float | None:
    """The eps at which accuracy first falls to half the clean accuracy, interpolated in
    log10(eps); None when it never does on the grid."""
    target = clean / 2
    if ys and ys[0] <= target:
        return xs[0]
    for (x0, y0), (x1, y1) in zip(
        zip(xs, ys, strict=True), zip(xs[1:], ys[1:], strict=True), strict=False
    ):
        if y1 <= target < y0:
            t = (y0 - target) / (y0 - y1)
            return float(10 ** (math.log10(x0) + t * (math.log10(x1) - math.log10(x0))))
    return None


def paired_p_value(diffs: list[float]) -> float:
    """Two-sided p-value of a one-sample t-test that the mean paired difference is 0.

    With no spread at all the t statistic is undefined: identical non-zero differences are
    taken as certain (p = 0), all-zero ones as no evidence (p = 1).
    """
    if len(diffs) < 2:
        return 1.0
    mean = sum(diffs) / len(diffs)
    if all(d == diffs[0] for d in diffs):
        return 0.0 if mean != 0 else 1.0
    return float(stats.ttest_1samp(diffs, 0.0).pvalue)


def holm(p_values: list[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (step-down, monotone, capped at 1), in input order:
    rejecting where adjusted p < alpha holds the family-wise error rate at alpha."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def resolve_floor(
    p_values: list[float],
    resamples: int,
    redo: Callable[[int, int], float],
    *,
    alpha: float = 0.05,
) -> list[float]:
    """The family's bootstrap p-values, resolved where their floor would decide the test.

    A percentile p-value never falls below 1 / (resamples + 1), and Holm's smallest threshold
    is alpha / m: with m >= alpha (resamples + 1) comparisons no change could be significant,
    however clear. In such a family each p-value at the floor is computed again by
    `redo(index, resamples)` with 10 m / alpha resamples (the same seed), whose floor lies
    ten times below that threshold; smaller families are returned as they are."""
    floor = 1 / (resamples + 1)
    m = len(p_values)
    if m * floor < alpha:
        return list(p_values)
    fine = math.ceil(10 * m / alpha)
    return [redo(i, fine) if p <= floor else p for i, p in enumerate(p_values)]


def paired_holm(
    arrays: list[tuple[np.ndarray, np.ndarray]], p_values: list[float], resamples: int
) -> list[float]:
    """Holm-adjusted p-values of a family of paired hierarchical bootstraps (seed 0) of
    `arrays`, (setting, reference) each, whose first-pass p-values are `p_values`; the floor
    resolved as `resolve_floor` says."""

    def redo(i: int, fine: int) -> float:
        return hierarchical_bootstrap(*arrays[i], resamples=fine, seed=0).p_value

    return holm(resolve_floor(p_values, resamples, redo))


def floor_note(m: int, resamples: int, *, alpha: float = 0.05) -> str:
    """The sentence a report adds where `resolve_floor` applied to a family of m; else ""."""
    if m / (resamples + 1) < alpha:
        return ""
    return (
        f" With {m} comparisons the {resamples:,} resamples' smallest p-value, 1/{resamples + 1:,},"
        f" would decide the test; the p-values at it are computed again with "
        f"{math.ceil(10 * m / alpha):,} resamples."
    )


@dataclass(frozen=True)
class Bootstrap:
    """A statistic with its percentile interval from a paired hierarchical bootstrap."""

    value: float
    low: float
    high: float
    p_value: float  # two-sided, of "the statistic is 0" (for differences)
    resamples: int
    seed: int

    def fmt(self, digits: int = 4, scale: float = 1.0) -> str:
        v, lo, hi = self.value * scale, self.low * scale, self.high * scale
        return f"{v:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def hierarchical_bootstrap(
    a: np.ndarray,
    b: np.ndarray | None = None,
    *,
    resamples: int = 2000,
    seed: int = 0,
    level: float = 0.95,
    statistic: str = "mean",
) -> Bootstrap:
    """Accuracy (or, with `b`, the paired difference a - b) from per-image correctness.

    `a` and `b` are boolean [seeds, images]: row s is the model of seed s, column i the same
    test image for every row and both settings. Each resample draws seeds with replacement
    and, independently, test images with replacement, shared by every drawn seed and by both
    settings: both sources of noise (training seeds, the finite test sample) enter, and a
    comparison stays paired by seed and by image. `statistic` "median": the median of the
    values over the drawn (seed, image) pairs instead of their mean (for per-image values
    such as minimal perturbations; +inf allowed).
    """
    if statistic not in ("mean", "median"):
        raise ValueError(f"unknown statistic {statistic!r}")
    a = np.asarray(a, dtype=np.float64)
    diff = a if b is None else a - np.asarray(b, dtype=np.float64)
    if diff.ndim != 2 or diff.shape[0] < 1 or diff.shape[1] < 1:
        raise ValueError(f"expected a [seeds, images] array, got shape {diff.shape}")
    seeds, n = diff.shape
    rng = np.random.default_rng(seed)
    if statistic == "median":
        return _median_bootstrap(diff, rng, resamples, seed, level)
    value = float(diff.mean())
    stats_ = np.empty(resamples)
    chunk = max(1, 2_000_000 // max(n * seeds, 1))  # bounded memory per step
    for start in range(0, resamples, chunk):
        r = min(chunk, resamples - start)
        s_idx = rng.integers(0, seeds, size=(r, seeds))
        i_idx = rng.integers(0, n, size=(r, n))
        # per image the mean over the drawn seeds, then the mean over the drawn images
        per_image = diff[s_idx].mean(axis=1)  # [r, n]
        stats_[start : start + r] = np.take_along_axis(per_image, i_idx, axis=1).mean(axis=1)
    alpha = (1 - level) / 2
    low, high = np.quantile(stats_, [alpha, 1 - alpha])
    # Two-sided percentile p-value of 0, never below the bootstrap's resolution.
    tail = min((stats_ <= 0).mean(), (stats_ >= 0).mean())
    p = min(1.0, max(2 * tail, 1 / (resamples + 1)))
    return Bootstrap(value, float(low), float(high), float(p), resamples, seed)


def _median_bootstrap(
    values: np.ndarray, rng: np.random.Generator, resamples: int, seed: int, level: float
) -> Bootstrap:
    seeds, n = values.shape
    out = np.empty(resamples)
    for k in range(resamples):
        s_idx = rng.integers(0, seeds, size=seeds)
        i_idx = rng.integers(0, n, size=n)
        out[k] = np.median(values[s_idx][:, i_idx])
    alpha = (1 - level) / 2
    low, high = np.quantile(out, [alpha, 1 - alpha], method="inverted_cdf")
    return Bootstrap(float(np.median(values)), float(low), float(high), 1.0, resamples, seed)
