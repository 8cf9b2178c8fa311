"""What report sections share: markdown tables, the accuracy-curve figure, and the
provenance lines (devices, compute time)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display here or in CI
import matplotlib.pyplot as plt

from lilbench.attacks.base import spec_from_params
from lilbench.io import atomic_path
from lilbench.reports.aggregate import by_setting, eps_name
from lilbench.reports.summary import curve
from lilbench.results.suite_results import ModelResult, setting_name

Table = tuple[list[str], list[list[str]]]


INTERVALS = (
    "Intervals are 95% and stay inside [0, 1] for accuracies: where each seed's per-image "
    "correctness is recorded (every attack table, the worst case), a hierarchical bootstrap "
    "that resamples seeds and test images (1,000 resamples, seed 0); for the clean accuracy "
    "of the whole test set, Student's t over seeds on the logit scale; isometry errors and "
    "AUCs: Student's t over seeds. A single seed shows its value alone."
)


def computed_on(results: list[ModelResult]) -> str:
    """Which devices trained the models and ran the attacks, from what the records say."""
    trained: dict[str, int] = {}
    attacked: dict[str, int] = {}
    for r in results:
        if r.checkpoint is not None:
            name = str(r.checkpoint.meta.get("device", "unknown"))
            trained[name] = trained.get(name, 0) + 1
        for rec in r.completed_attacks().values():
            name = str(rec.device or "unknown")
            attacked[name] = attacked.get(name, 0) + 1

    def fmt(counts: dict[str, int]) -> str:
        return ", ".join(f"{k} ({v})" for k, v in sorted(counts.items())) or "none"

    return f"training {fmt(trained)}; attacks {fmt(attacked)}"


def slug(text: str) -> str:
    """A setting's name as part of a file name: "beta=1" -> "beta1", "pgd-at eps=0.1" ->
    "pgd-at-eps0.1" (the `betas:` shorthand keeps the names of earlier reports)."""
    return text.replace("=", "").replace(" ", "-").replace("+", "-")


def md_table(table: Table) -> str:
    header, rows = table
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _mean_curve(group: list[ModelResult], attack: str) -> tuple[list[float], list[float]] | None:
    curves = [curve(rec) for r in group if (rec := r.attacks.get(attack)) is not None]
    if not curves:
        return None
    xs = curves[0][0]
    return xs, [sum(c[1][i] for c in curves) / len(curves) for i in range(len(xs))]


def _radius_name(results: list[ModelResult], attack: str) -> str:
    """The eps axis's name in the attack's own norm ("eps" in L-inf, "L2 eps", ...)."""
    rec = next((r.attacks[attack] for r in results if r.attacks.get(attack)), None)
    if rec is None:
        return "eps"
    return eps_name(spec_from_params(rec.params).norm)


def plot(results: list[ModelResult], panels: Sequence[tuple[str, str | None]], path: Path) -> None:
    """One panel per attack, one line per beta (mean over seeds); a second attack in a panel
    is drawn dashed in the same colour (standard vs paper-faithful)."""
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4), squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, (attack, dashed) in zip(axes[0], panels, strict=True):
        sweep = "eps"
        for i, (_, group) in enumerate(by_setting(results)):
            colour = colours[i % len(colours)]
            seeds = len(group)
            for label, style in ((attack, "-"), (dashed, "--")):
                if label is None:
                    continue
                got = _mean_curve(group, label)
                if got is None:
                    continue
                rec = next(r.attacks[label] for r in group if r.attacks.get(label))
                sweep = rec.sweep if rec else sweep
                name = setting_name(group[0].setting) + (f" (mean of {seeds})" if seeds > 1 else "")
                ax.plot(
                    *got,
                    style,
                    marker="o",
                    ms=3,
                    color=colour,
                    label=name if style == "-" else None,
                )
        ax.set_xscale("log")
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel(_radius_name(results, attack) if sweep == "eps" else "step size (eps = ball)")
        ax.set_ylabel("robust accuracy")
        title = attack.upper() + (f" (solid) vs {dashed.upper()} (dashed)" if dashed else "")
        ax.set_title(title, fontsize=10)
        ax.grid(True, alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def wall_time(results: list[ModelResult]) -> float:
    total = 0.0
    for r in results:
        if r.checkpoint:
            total += float(r.checkpoint.metrics.get("train_seconds", 0.0))
        total += sum(float(rec.timings["total_seconds"]) for rec in r.attacks.values() if rec)
    return total
