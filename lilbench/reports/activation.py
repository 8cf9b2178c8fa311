"""Tanh against ReLU: at beta 0, which activation's phi keeps more of the input's structure,
and does LIL change geometry and robustness the same way under both? Each activation's
settings are compared with its own plain cross-entropy (beta 0), paired by seed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from lilbench.reports.aggregate import ALPHA, Table
from lilbench.reports.geometry_panel import geometry_values
from lilbench.results.comparisons import BOOTSTRAP_RESAMPLES, worst_case_masks
from lilbench.results.stats import (
    estimate,
    hierarchical_bootstrap,
    paired_holm,
    paired_p_value,
)
from lilbench.results.suite_results import ModelResult

WORST_EPS = (0.03, 0.1)  # the strong protocol's columns compared


def activation_of(r: ModelResult) -> str:
    return str(dict(r.setting.overrides).get("activation", "tanh"))


def activations(results: list[ModelResult]) -> list[str]:
    return list(dict.fromkeys(activation_of(r) for r in results))


def is_plain(r: ModelResult) -> bool:
    """Plain cross-entropy of any activation: LIL's objective at beta 0, no spectral norm."""
    d = dict(r.setting.overrides)
    return d.get("objective", "lil") == "lil" and r.beta == 0 and not d.get("spectral_norm")


Scalar = Callable[[ModelResult], float | None]


def _scalars(data_dir: Path | None, runs_dir: Path | None) -> list[tuple[str, Scalar]]:
    def metric(key: str) -> Scalar:
        return lambda r: float(r.checkpoint.metrics[key]) if r.checkpoint else None

    def panel(key: str) -> Scalar:
        def get(r: ModelResult) -> float | None:
            m = geometry_values(r, data_dir, runs_dir) if r.checkpoint else None
            return None if m is None else float(m[key])

        return get

    return [
        ("isometry error (test)", metric("test_isometry_error")),
        ("CKA input-phi", panel("cka_input_phi")),
        ("NC1", panel("nc1")),
        ("effective rank of phi", panel("effective_rank")),
    ]


def _t_change(pairs: list[tuple[float, float]]) -> tuple[str, float]:
    diffs = [a - b for a, b in pairs]
    return estimate(diffs).fmt(3), paired_p_value(diffs)


def baseline_table(
    results: list[ModelResult], data_dir: Path | None, runs_dir: Path | None
) -> Table | None:
    """At beta 0: each other activation minus tanh, paired by seed (t over seeds)."""
    acts = activations(results)
    if "tanh" not in acts or len(acts) < 2:
        return None
    plain = {(activation_of(r), r.seed): r for r in results if is_plain(r)}
    rows = []
    for name, f in _scalars(data_dir, runs_dir):
        for act in acts:
            if act == "tanh":
                continue
            pairs = [
                (a, b)
                for (ac, seed), r in plain.items()
                if ac == act and (t := plain.get(("tanh", seed))) is not None
                if (a := f(r)) is not None and (b := f(t)) is not None
            ]
            if not pairs:
                continue
            mine = estimate([a for a, _ in pairs]).fmt(3)
            tanh = estimate([b for _, b in pairs]).fmt(3)
            change, p = _t_change(pairs)
            rows.append([name, tanh, f"{act}: {mine}", change, f"{p:.3g}", str(len(pairs))])
    header = ["quantity at beta 0", "tanh", "other", "other - tanh", "p (paired t)", "seeds"]
    return header, rows


def within_table(
    results: list[ModelResult], data_dir: Path | None, runs_dir: Path | None
) -> Table | None:
    """Per activation, each LIL setting minus that activation's beta 0: robust accuracy (the
    worst case of all attacks at eps 0.03 and 0.1; hierarchical bootstrap, Holm over the
    robust rows) and the geometry (t over seeds)."""
    acts = activations(results)
    if len(acts) < 2:
        return None
    plain = {(activation_of(r), r.seed): r for r in results if is_plain(r)}
    cells: list[list[str]] = []
    p_rows: list[tuple[int, int, float]] = []
    arrays: list[tuple[np.ndarray, np.ndarray]] = []  # each p-value's pairs, to resample again
    labels = list(dict.fromkeys(r.label for r in results if not is_plain(r)))
    scalars = _scalars(data_dir, runs_dir)
    header = ["setting", "activation", *(f"worst case eps {e:g} (pp)" for e in WORST_EPS)]
    header += [f"{n} change" for n, _ in scalars]
    for label in labels:
        group = [r for r in results if r.label == label]
        act = activation_of(group[0])
        row = [label, act]
        for j, e in enumerate(WORST_EPS):
            pairs = []
            for r in group:
                base = plain.get((act, r.seed))
                m = worst_case_masks(r).get(e) if base is not None else None
                b = worst_case_masks(base).get(e) if base is not None else None
                if m is not None and b is not None:
                    pairs.append((m[0], b[0]))
            if not pairs:
                row.append("missing")
                continue
            arrays.append((np.stack([a for a, _ in pairs]), np.stack([b for _, b in pairs])))
            boot = hierarchical_bootstrap(*arrays[-1], resamples=BOOTSTRAP_RESAMPLES, seed=0)
            p_rows.append((len(cells), 2 + j, boot.p_value))
            row.append(boot.fmt(1, 100))
        for _, f in scalars:
            vals = [
                (a, c)
                for r in group
                if (ref := plain.get((act, r.seed))) is not None
                if (a := f(r)) is not None and (c := f(ref)) is not None
            ]
            row.append(_t_change(vals)[0] if vals else "missing")
        cells.append(row)
    adjusted = paired_holm(arrays, [p for *_, p in p_rows], BOOTSTRAP_RESAMPLES)
    for (i, j, _), p in zip(p_rows, adjusted, strict=True):
        if p < ALPHA:
            cells[i][j] += " *"
    return header, cells
