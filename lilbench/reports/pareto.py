"""Defences side by side: clean accuracy against robust accuracy, the frontier, and a verdict
that compares the best LIL setting with the best other method at no lower clean accuracy."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from lilbench.io import atomic_path
from lilbench.reports.aggregate import by_setting
from lilbench.results.stats import Estimate, estimate
from lilbench.results.suite_results import ModelResult

PARETO_EPS = (0.1, 0.05)


@dataclass(frozen=True)
class ParetoPoint:
    label: str
    objective: str
    clean: Estimate
    robust: Estimate


def _accuracy_at(r: ModelResult, attack: str, eps: float) -> float | None:
    rec = r.attacks.get(attack)
    if rec is None:
        return None
    found = [p.accuracy for p in rec.points if abs(p.eps - eps) < 1e-9]
    return float(found[0]) if found else None


def _clean(r: ModelResult, attack: str) -> float | None:
    """Clean accuracy on the images the attack ran on (the same subset as the robust one)."""
    rec = r.attacks.get(attack)
    return None if rec is None else float(rec.clean.accuracy)


Score = Callable[[ModelResult], float | None]  # one model's accuracy, or None if not measured


def points_of(results: list[ModelResult], clean: Score, robust: Score) -> list[ParetoPoint]:
    """One point per setting: the mean over its seeds of each score (95% t-intervals)."""
    points = []
    for label, group in by_setting(results):
        ys = [v for r in group if (v := robust(r)) is not None]
        xs = [v for r in group if (v := clean(r)) is not None]
        if ys and xs and group[0].checkpoint is not None:
            objective = group[0].checkpoint.config.method_name
            points.append(ParetoPoint(label, objective, estimate(xs), estimate(ys)))
    return points


def pareto_points(results: list[ModelResult], eps: float, attack: str) -> list[ParetoPoint]:
    return points_of(results, lambda r: _clean(r, attack), lambda r: _accuracy_at(r, attack, eps))


@dataclass(frozen=True)
class Panel:
    """One plot of clean accuracy against another accuracy."""

    points: list[ParetoPoint]
    ylabel: str
    title: str


def frontier(points: list[ParetoPoint]) -> list[ParetoPoint]:
    """Settings that no other setting beats on both clean and robust accuracy (means)."""

    def dominated(p: ParetoPoint) -> bool:
        return any(
            q.clean.mean >= p.clean.mean
            and q.robust.mean >= p.robust.mean
            and (q.clean.mean > p.clean.mean or q.robust.mean > p.robust.mean)
            for q in points
        )

    return sorted((p for p in points if not dominated(p)), key=lambda p: p.clean.mean)


def pareto_plot(results: list[ModelResult], path: Path, attack: str) -> None:
    panels = [
        Panel(
            pareto_points(results, eps, attack),
            f"{attack.upper()} accuracy at eps = {eps:g} (%)",
            f"clean vs {attack} at eps = {eps:g} (mean, 95% interval over seeds)",
        )
        for eps in PARETO_EPS
    ]
    plot_panels(panels, path)


def plot_panels(panels: list[Panel], path: Path) -> None:
    """Each panel's points with their intervals, labelled by setting and coloured by
    objective, and the frontier through them."""
    cols = min(2, len(panels))  # two across, so that four panels stay readable
    rows = -(-len(panels) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(7 * cols, 5.5 * rows), squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax in axes.flat[len(panels) :]:
        ax.set_visible(False)
    for ax, panel in zip(axes.flat, panels, strict=False):
        points = panel.points
        kinds = list(dict.fromkeys(p.objective for p in points))
        for p, dy in zip(points, _label_offsets(points), strict=True):
            c = colours[kinds.index(p.objective) % len(colours)]
            ax.errorbar(
                100 * p.clean.mean,
                100 * p.robust.mean,
                xerr=[[100 * (p.clean.mean - p.clean.low)], [100 * (p.clean.high - p.clean.mean)]],
                yerr=[
                    [100 * (p.robust.mean - p.robust.low)],
                    [100 * (p.robust.high - p.robust.mean)],
                ],
                fmt="o",
                color=c,
                capsize=3,
                label=p.objective
                if p.objective in kinds and not _labelled(ax, p.objective)
                else None,
            )
            ax.annotate(
                p.label,
                (100 * p.clean.mean, 100 * p.robust.mean),
                fontsize=7,
                xytext=(4, dy),
                textcoords="offset points",
            )
        front = frontier(points)
        if len(front) > 1:
            ax.plot(
                [100 * p.clean.mean for p in front],
                [100 * p.robust.mean for p in front],
                "--",
                color="grey",
                lw=1,
                label="frontier",
            )
        ax.set_xlabel("clean accuracy (%)")
        ax.set_ylabel(panel.ylabel)
        ax.set_title(panel.title, fontsize=10)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def _beta(results: list[ModelResult], label: str) -> float:
    return next(r.beta for r in results if r.label == label)


def _label_offsets(points: list[ParetoPoint]) -> list[float]:
    """Vertical offsets (points) that keep labels of nearby settings from overprinting."""
    placed: list[tuple[float, float]] = []
    offsets = []
    for p in points:
        x, y = 100 * p.clean.mean, 100 * p.robust.mean
        near = sum(1 for px, py in placed if abs(px - x) < 2.0 and abs(py - y) < 4.0)
        offsets.append(4.0 - 10.0 * near)
        placed.append((x, y))
    return offsets


def _labelled(ax: plt.Axes, name: str) -> bool:
    return name in ax.get_legend_handles_labels()[1]


def _paired(
    results: list[ModelResult], a: str, b: str, f: Callable[[ModelResult], float | None]
) -> Estimate | None:
    """f(a) - f(b), paired by seed."""
    fb = {r.seed: f(r) for r in results if r.label == b}
    diffs = [
        va - vb
        for r in results
        if r.label == a and (va := f(r)) is not None and (vb := fb.get(r.seed)) is not None
    ]
    return estimate(diffs) if diffs else None


def pareto_verdict(results: list[ModelResult], eps: float, attack: str) -> list[str]:
    """Which settings lie on the frontier, and where the best LIL setting stands against the
    best other method at no lower clean accuracy."""
    points = pareto_points(results, eps, attack)
    if not points:
        return [f"No {attack} results at eps = {eps:g}: no frontier to draw."]
    front = frontier(points)

    def fmt(p: ParetoPoint) -> str:
        return f"{p.label} (clean {100 * p.clean.mean:.1f}%, {attack} {100 * p.robust.mean:.1f}%)"

    lines = [
        f"At eps = {eps:g}, on the frontier (no other setting has both higher clean and higher "
        f"{attack} accuracy): " + "; ".join(fmt(p) for p in front) + "."
    ]
    # LIL proper: an isometry weight > 0 (lil at beta 0 is plain cross-entropy).
    lil = [p for p in points if p.objective == "lil" and _beta(results, p.label) > 0]
    others = [p for p in points if p.objective != "lil"]
    if not lil or not others:
        return lines
    best_lil = max(lil, key=lambda p: p.robust.mean)
    rivals = [p for p in others if p.clean.mean >= best_lil.clean.mean]
    where = "at no lower clean accuracy"
    if not rivals:
        rivals = [min(others, key=lambda p: abs(p.clean.mean - best_lil.clean.mean))]
        where = "nearest in clean accuracy (every other method is below it)"
    best_other = max(rivals, key=lambda p: p.robust.mean)
    d = _paired(results, best_other.label, best_lil.label, lambda r: _accuracy_at(r, attack, eps))
    gap = (
        f"{100 * d.mean:+.1f} pp (95% interval over {d.n} seeds "
        f"{100 * d.low:+.1f}..{100 * d.high:+.1f})"
        if d is not None and d.n > 1
        else f"{100 * (best_other.robust.mean - best_lil.robust.mean):+.1f} pp"
    )
    on = "on" if best_lil in front else "not on"
    lines.append(
        f"The most robust LIL setting is {fmt(best_lil)}, {on} the frontier. The most robust "
        f"other method {where} is {fmt(best_other)}: {gap} {attack} accuracy over that LIL "
        "setting, paired by seed."
    )
    return lines
