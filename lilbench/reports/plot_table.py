"""Figures from an exported table (`lilbench export`): accuracy vs eps or step size per setting,
one panel per attack, and clean vs robust accuracy at one eps when a suite has several
settings. A user redraws a figure from the CSV alone."""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from pathlib import Path

import matplotlib.pyplot as plt

from lilbench.errors import ConfigError
from lilbench.reports.inspect_plots import save_figure

NEEDED = ("setting", "seed", "attack", "sweep", "eps", "step", "accuracy", "clean_accuracy")


def read_rows(path: Path) -> list[dict[str, str]]:
    """The rows of an exported CSV or Parquet table, as strings."""
    if path.suffix == ".parquet":
        try:
            import pyarrow.parquet as pq
        except ImportError:
            raise ConfigError("reading parquet needs pyarrow: pip install pyarrow") from None
        rows = [
            {k: "" if v is None else str(v) for k, v in r.items()}
            for r in pq.read_table(path).to_pylist()
        ]
    else:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    if rows:
        missing = [c for c in NEEDED if c not in rows[0]]
        if missing:
            raise ConfigError(
                f"{path} lacks the column(s) {', '.join(missing)}: give a table written by "
                "`lilbench export` (not --per-example)"
            )
    return rows


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def curves(rows: list[dict[str, str]]) -> dict[str, dict[str, list[tuple[float, float]]]]:
    """attack -> setting -> [(x, mean accuracy over seeds)], x the eps or step size."""
    acc: dict[tuple[str, str, float], list[float]] = defaultdict(list)
    for r in rows:
        x = float(r["eps"] if r["sweep"] == "eps" else r["step"])
        acc[(r["attack"], r["setting"], x)].append(float(r["accuracy"]))
    out: dict[str, dict[str, list[tuple[float, float]]]] = defaultdict(lambda: defaultdict(list))
    for (attack, setting, x), values in acc.items():
        out[attack][setting].append((x, _mean(values)))
    for by_setting in out.values():
        for points in by_setting.values():
            points.sort()
    return out


def pareto(rows: list[dict[str, str]], eps: float) -> dict[str, tuple[float, float]]:
    """setting -> (mean clean accuracy, mean worst accuracy over eps-sweep attacks at the
    grid eps nearest `eps`)."""
    sweeps = [r for r in rows if r["sweep"] == "eps"]
    if not sweeps:
        return {}
    grid = sorted({float(r["eps"]) for r in sweeps})
    near = min(grid, key=lambda e: abs(math.log(e / eps)) if e > 0 else math.inf)
    worst: dict[tuple[str, str], float] = {}
    clean: dict[tuple[str, str], float] = {}
    for r in sweeps:
        key = (r["setting"], r["seed"])
        clean[key] = float(r["clean_accuracy"])
        if float(r["eps"]) == near:
            worst[key] = min(worst.get(key, 1.0), float(r["accuracy"]))
    by_setting: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for key, w in worst.items():
        by_setting[key[0]].append((clean[key], w))
    return {s: (_mean([c for c, _ in v]), _mean([w for _, w in v])) for s, v in by_setting.items()}


def plot_rows(rows: list[dict[str, str]], path: Path, *, title: str, pareto_eps: float) -> None:
    panels = curves(rows)
    front = pareto(rows, pareto_eps)
    extra = 1 if len(front) > 1 else 0
    n = len(panels) + extra
    cols = min(3, n)
    nrows = math.ceil(n / cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(4.2 * cols, 3.2 * nrows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.axis("off")
    for ax, (attack, by_setting) in zip(axes.flat, panels.items(), strict=False):
        sweep = next(r["sweep"] for r in rows if r["attack"] == attack)
        for setting, points in by_setting.items():
            ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", ms=3, label=setting)
        ax.set_xscale("log")
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("eps" if sweep == "eps" else "step size")
        ax.set_ylabel("accuracy")
        ax.set_title(attack)
        ax.grid(alpha=0.3)
    if panels:
        axes.flat[0].legend(fontsize=7)
    if extra:
        ax = axes.flat[len(panels)]
        for setting, (c, w) in front.items():
            ax.scatter([c], [w])
            ax.annotate(setting, (c, w), fontsize=7)
        ax.set_xlabel("clean accuracy")
        ax.set_ylabel(f"worst robust accuracy at eps ~ {pareto_eps:g}")
        ax.set_title("clean vs robust")
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    save_figure(fig, path)
