"""Robustness curves and minimal perturbations, per test image, from every eps-grid attack.

For each image: the smallest eps at which any attack run on it broke it (0 when the model
misclassifies it unperturbed; +inf when no attack broke it at any eps of the grids). That is
an upper bound on the image's true minimal L-inf perturbation, at the grids' resolution; the
share of images whose minimal eps exceeds e is the "still correct under every attack" curve.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch

from lilbench.attacks.base import attack_facts
from lilbench.attacks.checks import pack_mask, unpack_mask
from lilbench.data import Dataset
from lilbench.reports.aggregate import Table, by_setting, key_header
from lilbench.reports.inspect_plots import save_figure
from lilbench.results.diagnostic_records import ensure_diagnostic
from lilbench.results.stats import hierarchical_bootstrap
from lilbench.results.suite_results import ModelResult


def minimal_eps(r: ModelResult, clean: np.ndarray) -> np.ndarray:
    """Per image (of the records' first n test images): the smallest eps that broke it."""
    n = len(clean)
    out = np.full(n, np.inf)
    done = r.completed_attacks()
    facts = attack_facts(done)
    for label, rec in done.items():
        # L-inf eps only: an L2 eps is another ball (curves per norm are still to come)
        if rec.sweep != "eps" or rec.samples.n != n or facts[label].norm != "inf":
            continue
        for p in rec.points:
            if p.correct_bits and p.eps > 0:
                broken = ~unpack_mask(p.correct_bits, n)
                out = np.where(broken, np.minimum(out, p.eps), out)
    return np.where(clean, out, 0.0)


def _clean_masks(
    results: list[ModelResult], data_dir: Path | None, runs_dir: Path | None
) -> dict[tuple[str, int], np.ndarray]:
    """The model's own verdict on the unperturbed images the records cover (cached per model
    in the runs directory)."""
    masks = {}
    for r in results:
        n = next((rec.samples.n for rec in r.completed_attacks().values()), 0)
        if not n or r.checkpoint is None:
            continue

        def correct(model: torch.nn.Module, data: Dataset, n: int = n) -> dict[str, Any]:
            with torch.no_grad():
                pred = model(data.x_test[:n]).argmax(1)
            return {"n": n, "bits": pack_mask((pred == data.y_test[:n]).numpy())}

        found = ensure_diagnostic(
            r.checkpoint, "clean-bits", {"n": n}, correct, runs_dir=runs_dir, data_dir=data_dir
        )
        masks[(r.label, r.seed)] = unpack_mask(found["bits"], n)
    return masks


def robustness_section(
    results: list[ModelResult],
    out_dir: Path,
    name: str,
    data_dir: Path | None,
    runs_dir: Path | None = None,
) -> tuple[Table, str] | None:
    clean = _clean_masks(results, data_dir, runs_dir)
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
            if rec.sweep == "eps" and attack_facts({label: rec})[label].norm == "inf"
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
