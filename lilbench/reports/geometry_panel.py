"""The geometry panel per model (neural collapse, CKA, effective rank of phi), cached in the
runs directory like the mechanism, and its rank correlations with clean and robust accuracy
across a suite's models (Spearman, Holm over the panel's quantities and both accuracies)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from scipy import stats

from lilbench.reports.aggregate import ALPHA, Table, by_setting, key_header
from lilbench.results.comparisons import VERDICT_EPS, worst
from lilbench.results.diagnostic_records import measured as measured_values
from lilbench.results.stats import estimate, holm
from lilbench.results.suite_results import ModelResult

QUANTITIES = (
    ("nc1", "NC1 (within-class variability)"),
    ("nc2_equinorm", "NC2 equinorm"),
    ("nc2_equiangular", "NC2 equiangularity"),
    ("nc4", "NC4 (not nearest class mean)"),
    ("cka_input_phi", "CKA input-phi"),
    ("cka_clean_adv_phi", "CKA clean-adversarial phi"),
    ("effective_rank", "effective rank of phi"),
)


def geometry_values(
    r: ModelResult, data_dir: Path | None, runs_dir: Path | None, *, compute: bool = True
) -> dict[str, float] | None:
    """One model's panel (`measures.geometry`), read from its record; computed and cached
    where a runs directory from before the suite computed it lacks it (`compute` False:
    None then)."""
    assert r.checkpoint is not None
    return measured_values(
        r.checkpoint, "geometry", runs_dir=runs_dir, data_dir=data_dir, compute=compute
    )


def measured(
    results: list[ModelResult],
    data_dir: Path | None,
    runs_dir: Path | None,
    *,
    compute: bool = True,
) -> list[tuple[ModelResult, dict[str, float]]]:
    return [
        (r, m)
        for r in results
        if r.checkpoint is not None and not r.checkpoint.external
        if (m := geometry_values(r, data_dir, runs_dir, compute=compute)) is not None
    ]


def _robust(r: ModelResult) -> float | None:
    """The strong protocol's robust accuracy: the worst case of all attacks at eps 0.1."""
    return worst(r).get(VERDICT_EPS)


def correlations(
    found: list[tuple[ModelResult, dict[str, float]]],
) -> list[tuple[str, str, float, float]]:
    """(quantity, accuracy, Spearman rho, Holm-adjusted p) over the models, for clean accuracy
    and, where every model has it, the worst case of all attacks at eps 0.1."""
    clean = [
        float(r.checkpoint.metrics["clean_test_accuracy"]) if r.checkpoint else math.nan
        for r, _ in found
    ]
    targets = [("clean accuracy", clean)]
    robust = [_robust(r) for r, _ in found]
    if all(v is not None for v in robust):
        name = f"robust accuracy (worst case, eps {VERDICT_EPS:g})"
        targets.append((name, [float(v) if v is not None else math.nan for v in robust]))
    rows = []
    for key, name in QUANTITIES:
        values = [m[key] for _, m in found]
        for target, accs in targets:
            t = stats.spearmanr(values, accs)
            rows.append((name, target, float(t.statistic), float(t.pvalue)))
    adjusted = holm([1.0 if np.isnan(p) else p for *_, p in rows])
    return [(q, t, rho, p) for (q, t, rho, _), p in zip(rows, adjusted, strict=True)]


def geometry_section(
    results: list[ModelResult], data_dir: Path | None, runs_dir: Path | None
) -> tuple[Table, Table | None, list[str]]:
    found = measured(results, data_dir, runs_dir)
    header = [key_header(results), "seeds", *(label for _, label in QUANTITIES)]
    rows = []
    for label, group in by_setting([r for r, _ in found]):
        values = [m for r, m in found if r.label == label]
        rows.append(
            [
                label,
                str(len(group)),
                *(estimate([v[k] for v in values]).fmt(3) for k, _ in QUANTITIES),
            ]
        )
    sentences: list[str] = []
    corr_table = None
    if len(found) > 3:
        corr = correlations(found)
        corr_table = (
            ["quantity", "accuracy", "Spearman rho", "Holm-adjusted p"],
            [
                [q, t, f"{rho:+.2f}", f"{p:.3g}" + (" *" if p < ALPHA else "")]
                for q, t, rho, p in corr
            ],
        )
        sig = [f"{q} with {t} (rho {rho:+.2f})" for q, t, rho, p in corr if p < ALPHA]
        sentences.append(
            "Significant rank correlations after Holm's correction: " + "; ".join(sig) + "."
            if sig
            else "No quantity's rank correlation with clean or robust accuracy is significant "
            "after Holm's correction."
        )
    return (header, rows), corr_table, sentences
