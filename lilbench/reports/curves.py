"""Robustness curves and minimal perturbations, per test image, from every eps-grid attack.

For each image: the smallest eps at which any attack run on it broke it (0 when the model
misclassifies it unperturbed; +inf when no attack broke it at any eps of the grids). That is
an upper bound on the image's true minimal L-inf perturbation, at the grids' resolution; the
share of images whose minimal eps exceeds e is the "still correct under every attack" curve.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from lilbench.attacks.base import attack_facts
from lilbench.reports.aggregate import Table, by_setting, key_header
from lilbench.reports.inspect_plots import save_figure
from lilbench.results.per_image import clean_masks, minimal_eps
from lilbench.results.stats import hierarchical_bootstrap
from lilbench.results.suite_results import ModelResult


def robustness_section(
    results: list[ModelResult],
    out_dir: Path,
    name: str,
    data_dir: Path | None,
    runs_dir: Path | None = None,
) -> tuple[Table, str] | None:
    clean = clean_masks(results, data_dir, runs_dir)
    per: dict[str, list[np.ndarray]] = {}
    for r in results:
        if (r.label, r.seed) in clean:
            per.setdefault(r.label, []).append(minimal_eps(r, clean[(r.label, r.seed)]))
    if not per:
        return None
    grid = sorted(  # the L-inf grids only, as `minimal_eps` (an L2 eps is another ball)
        {
            float(p.eps)
            for r in results
            for label, rec in r.completed_attacks().items()
            if rec.sweep == "eps" and attack_facts({label: rec})[label].threat.is_default
            for p in rec.points
            if p.eps > 0
        }
    )
    header = [
        key_header(results),
        "seeds",
        "median minimal eps, bootstrap 95%",
        f"never broken up to eps={grid[-1]:g}" if grid else "never broken",
    ]
    rows = []
    fig, ax = plt.subplots(figsize=(6, 4))
    for label, _ in by_setting(results):
        if label not in per:
            continue
        values = np.stack(per[label])  # [seeds, images]
        boot = hierarchical_bootstrap(values, resamples=1000, seed=0, statistic="median")
        rows.append(
            [
                label,
                str(len(values)),
                median_cell(boot.value, boot.low, boot.high),
                f"{float(np.isinf(values).mean()):.4f}",
            ]
        )
        ax.step(
            [0.0, *grid],
            [float((values > e).mean()) for e in [0.0, *grid]],
            where="post",
            label=label,
        )
    ax.set_xscale("symlog", linthresh=min(grid) if grid else 1e-3)
    ax.set_xlabel("eps (L-inf)")
    ax.set_ylabel("still correct under every attack")
    ax.legend(title=key_header(results), fontsize=8)
    image = f"{name}-robustness.png"
    save_figure(fig, out_dir / image)
    return (header, rows), image


def median_cell(value: float, low: float, high: float) -> str:
    """The median minimal eps with its interval; a median of 0 says why (more than half the
    images are misclassified before any attack), so that it does not read as "any noise
    breaks them"."""
    cell = f"{_fmt(value)} [{_fmt(low)}, {_fmt(high)}]"
    return cell + (" (0: clean accuracy under 50%)" if value == 0 else "")


def _fmt(v: float) -> str:
    return "> grid" if math.isinf(v) else f"{v:.3g}"
