"""The geometry panel per model (neural collapse, CKA, effective rank of phi), cached in the
runs directory like the mechanism, and its rank correlations with clean and robust accuracy
across a suite's models (Spearman, Holm over the panel's quantities and both accuracies)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy import stats

from lilbench.attacks.runner import pgd_examples
from lilbench.data import Dataset
from lilbench.geometry import effective_rank, linear_cka, nc1, nc2, nc4
from lilbench.reports.aggregate import ALPHA, Table, by_setting, key_header
from lilbench.results.comparisons import VERDICT_EPS, worst
from lilbench.results.diagnostic_records import ensure_diagnostic, find_diagnostic
from lilbench.results.stats import estimate, holm
from lilbench.results.suite_results import ModelResult

IMAGES = 1000  # the first test images the panel is computed on
ATTACK: dict[str, Any] = {"eps": 0.1, "steps": 10, "restarts": 1}  # L-inf PGD
GEOMETRY_PARAMS: dict[str, Any] = {"images": IMAGES, "attack": ATTACK, "seed": 0}

QUANTITIES = (
    ("nc1", "NC1 (within-class variability)"),
    ("nc2_equinorm", "NC2 equinorm"),
    ("nc2_equiangular", "NC2 equiangularity"),
    ("nc4", "NC4 (not nearest class mean)"),
    ("cka_input_phi", "CKA input-phi"),
    ("cka_clean_adv_phi", "CKA clean-adversarial phi"),
    ("effective_rank", "effective rank of phi"),
)
ATTACK_TEXT = "PGD-10 at L-inf eps 0.1 (step 2.5 eps / 10, one random start)"


def geometry(model: torch.nn.Module, data: Dataset) -> dict[str, float]:
    """The panel on the first IMAGES test images (phi: the last hidden layer)."""
    x, y = data.x_test[:IMAGES], data.y_test[:IMAGES]
    with torch.no_grad():
        phi = model.features(x).double().numpy()  # type: ignore[operator]
        predicted = model(x).argmax(1).numpy()
    adv = pgd_examples(
        model, x, y, seed=int(GEOMETRY_PARAMS["seed"]), num_classes=data.num_classes, **ATTACK
    )
    with torch.no_grad():
        phi_adv = model.features(adv).double().numpy()  # type: ignore[operator]
    labels = y.numpy()
    equinorm, equiangular = nc2(phi, labels)
    return {
        "nc1": nc1(phi, labels),
        "nc2_equinorm": equinorm,
        "nc2_equiangular": equiangular,
        "nc4": nc4(phi, labels, predicted),
        "cka_input_phi": linear_cka(x.double().numpy(), phi),
        "cka_clean_adv_phi": linear_cka(phi, phi_adv),
        "effective_rank": effective_rank(phi),
    }


def geometry_values(
    r: ModelResult, data_dir: Path | None, runs_dir: Path | None, *, compute: bool = True
) -> dict[str, float] | None:
    """One model's panel: cached per model (`compute` False: None when not cached)."""
    assert r.checkpoint is not None
    if not compute:
        assert runs_dir is not None
        return find_diagnostic(r.checkpoint, "geometry", GEOMETRY_PARAMS, runs_dir=runs_dir)
    return ensure_diagnostic(
        r.checkpoint, "geometry", GEOMETRY_PARAMS, geometry, runs_dir=runs_dir, data_dir=data_dir
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
