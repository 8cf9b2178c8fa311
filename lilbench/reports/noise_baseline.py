"""LIL against the defence built for noise (Gaussian data augmentation): which is more
accurate under Gaussian noise and the corruptions, at matched clean accuracy where the suite
allows, paired by seed and image; and the clean-vs-noise Pareto panels."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lilbench.data.noise import GAUSSIAN
from lilbench.reports.aggregate import ALPHA, Table, by_setting
from lilbench.reports.noise import (
    CORRUPTIONS,
    NOISE_NAMES,
    PerImage,
    Source,
    clean_score,
    comparison_columns,
    noise_score,
)
from lilbench.reports.pareto import Panel, Score, plot_panels, points_of
from lilbench.results.comparisons import BOOTSTRAP_RESAMPLES
from lilbench.results.stats import Bootstrap, hierarchical_bootstrap, paired_holm
from lilbench.results.suite_results import ModelResult


def _objective_of(group: list[ModelResult]) -> tuple[bool, bool]:
    """(a LIL setting proper, the noise baseline) for a setting's models."""
    ckpt = group[0].checkpoint
    if ckpt is None or group[0].setting.reference:
        return False, False
    objective = ckpt.config.make_objective()
    lil = ckpt.config.method_name == "lil" and group[0].beta > 0
    return lil, objective.noise_baseline()


def sides(results: list[ModelResult]) -> tuple[list[str], list[str]]:
    """The suite's LIL settings (beta > 0) and its noise-baseline settings, by label."""
    ours, rivals = [], []
    for label, group in by_setting(results):
        lil, baseline = _objective_of(group)
        if lil:
            ours.append(label)
        if baseline:
            rivals.append(label)
    return ours, rivals


@dataclass(frozen=True)
class HeadToHead:
    """The most accurate LIL setting under one perturbation against the most accurate
    baseline setting whose clean accuracy is no lower (else the nearest in clean accuracy)."""

    source: Source
    ours: str
    rival: str
    clean_ours: float
    clean_rival: float
    matched: bool  # the rival's clean accuracy is no lower than ours
    boot: Bootstrap  # ours minus the rival, paired by seed and image
    p_holm: float

    @property
    def significant(self) -> bool:
        return self.p_holm < ALPHA

    @property
    def winner(self) -> str:
        if not self.significant:
            return "neither significantly"
        return self.ours if self.boot.value > 0 else self.rival


def _mean(group: list[ModelResult], score: PerImage) -> float | None:
    rows = [s for r in group if (s := score(r)) is not None]
    return float(np.mean([r.mean() for r in rows])) if rows else None


def head_to_head(results: list[ModelResult]) -> list[HeadToHead]:
    """Per Gaussian noise level and the corruptions' mean, LIL against Gaussian augmentation;
    2,000 resamples of the hierarchical bootstrap, Holm over the list."""
    ours, rivals = sides(results)
    if not ours or not rivals:
        return []
    groups = dict(by_setting(results))
    clean = {label: _mean(groups[label], clean_score) for label in ours + rivals}
    found: list[tuple[Source, str, str, bool, Bootstrap]] = []
    arrays: list[tuple[np.ndarray, np.ndarray]] = []
    for source, score in comparison_columns(results):
        if source.kind not in (GAUSSIAN, CORRUPTIONS):
            continue
        acc = {label: _mean(groups[label], score) for label in ours + rivals}
        mine = [o for o in ours if acc[o] is not None and clean[o] is not None]
        theirs = [r for r in rivals if acc[r] is not None and clean[r] is not None]
        if not mine or not theirs:
            continue
        best = max(mine, key=lambda o: acc[o] or 0.0)
        floor = clean[best] or 0.0
        matched = [r for r in theirs if (clean[r] or 0.0) >= floor]
        pool = matched or [min(theirs, key=lambda r: abs((clean[r] or 0.0) - floor))]
        rival = max(pool, key=lambda r: acc[r] or 0.0)
        by_seed = {r.seed: score(r) for r in groups[rival]}
        pairs = [
            (a, b)
            for r in groups[best]
            if (a := score(r)) is not None
            and (b := by_seed.get(r.seed)) is not None
            and len(a) == len(b)
        ]
        if not pairs:
            continue
        arrays.append((np.stack([a for a, _ in pairs]), np.stack([b for _, b in pairs])))
        boot = hierarchical_bootstrap(*arrays[-1], resamples=BOOTSTRAP_RESAMPLES, seed=0)
        found.append((source, best, rival, bool(matched), boot))
    adjusted = paired_holm(arrays, [f[-1].p_value for f in found], BOOTSTRAP_RESAMPLES)
    return [
        HeadToHead(s, o, r, clean[o] or 0.0, clean[r] or 0.0, m, b, p)
        for (s, o, r, m, b), p in zip(found, adjusted, strict=True)
    ]


def head_to_head_table(found: list[HeadToHead]) -> Table:
    header = ["perturbation", "LIL setting (clean)", "baseline (clean)", "LIL minus baseline (pp)"]
    rows = [
        [
            h.source.name,
            f"{h.ours} ({100 * h.clean_ours:.1f}%)",
            f"{h.rival} ({100 * h.clean_rival:.1f}%)" + ("" if h.matched else " (nearest)"),
            h.boot.fmt(1, 100) + (" *" if h.significant else ""),
        ]
        for h in found
    ]
    return header, rows


def head_to_head_sentence(found: list[HeadToHead]) -> str:
    """Who wins where, as the report and the claims row say it."""
    wins: dict[str, list[str]] = {}
    for h in found:
        wins.setdefault(h.winner, []).append(f"{h.source.name} ({h.boot.fmt(1, 100)} pp)")
    return "; ".join(f"{who} at {', '.join(where)}" for who, where in wins.items())


def noise_pareto(results: list[ModelResult], path: Path) -> list[float]:
    """Clean against expected accuracy under Gaussian noise, a panel per sigma (at most
    the four largest), written to `path`; the sigmas drawn (empty: nothing to draw)."""
    levels = sorted(
        {
            float(p["level"])
            for r in results
            if r.perturbed is not None and r.perturbed.noise is not None
            for p in r.perturbed.noise["points"]
            if p["kind"] == GAUSSIAN
        }
    )[-4:]
    panels = []
    for level in levels:
        noisy = _scalar(noise_score(GAUSSIAN, level, every_draw=False))
        name = f"{NOISE_NAMES[GAUSSIAN]} {level:g}"
        panels.append(
            Panel(
                points_of(results, _scalar(clean_score), noisy),
                f"expected accuracy under {name} (%)",
                f"clean vs {name} (mean, 95% interval over seeds)",
            )
        )
    if panels:
        plot_panels(panels, path)
    return levels


def _scalar(score: PerImage) -> Score:
    """A per-image score as one model's accuracy (its mean over the images)."""

    def get(r: ModelResult) -> float | None:
        v = score(r)
        return None if v is None else float(v.mean())

    return get
