"""The mechanism, measured: does a larger beta bound the input gradients and the Lipschitz
constants that the paper's argument is about? Spearman's rank correlation with beta over all
models, Holm-corrected over the quantities."""

from __future__ import annotations

import math
from pathlib import Path

from scipy import stats

from lilbench.reports.aggregate import ALPHA, Table, by_setting, key_header
from lilbench.results.diagnostic_records import measured
from lilbench.results.stats import estimate, holm
from lilbench.results.suite_results import ModelResult

QUANTITIES = (
    # No "|" in these: they head markdown table columns.
    ("input_grad_norm_mean", "mean input-gradient norm"),
    ("lipschitz_sampled_pairs", "local Lipschitz of phi (sampled)"),
    ("jacobian_spectral_norm_mean", "mean Jacobian spectral norm of phi"),
    ("spectral_norm_product", "product of spectral norms (global)"),
)


def mechanism_values(
    r: ModelResult, data_dir: Path | None, runs_dir: Path | None, *, compute: bool = True
) -> dict[str, float] | None:
    """One model's mechanism quantities (`measures.mechanism`), read from its record;
    computed and cached where it is missing (`compute` False: None then)."""
    assert r.checkpoint is not None
    return measured(
        r.checkpoint, "mechanism", runs_dir=runs_dir, data_dir=data_dir, compute=compute
    )


def trends(measured: list[tuple[ModelResult, dict[str, float]]]) -> list[tuple[str, float, float]]:
    """(quantity, Spearman rho with beta, Holm-adjusted p over the quantities)."""
    kept = [(k, name) for k, name in QUANTITIES if all(math.isfinite(m[k]) for _, m in measured)]
    tests = [
        stats.spearmanr([r.beta for r, _ in measured], [m[k] for _, m in measured]) for k, _ in kept
    ]
    adjusted = holm([float(t.pvalue) for t in tests])
    return [
        (name, float(t.statistic), p) for (_, name), t, p in zip(kept, tests, adjusted, strict=True)
    ]


def _cell(values: list[float]) -> str:
    # NaN is how a measure says it does not apply (the product of the linear layers' norms
    # bounds nothing once convolutions are in the network)
    if values and all(math.isnan(v) for v in values):
        return "n/a (convolutions)"
    return estimate(values).fmt(4)


def mechanism_section(
    results: list[ModelResult], data_dir: Path | None, runs_dir: Path | None = None
) -> tuple[Table, list[str]]:
    """Per setting, the mechanism's quantities (cached per model in the runs directory, so a
    report rewritten from its records loads no checkpoint), and their trend with beta."""
    measured = [
        (r, m)
        for r in results
        if r.checkpoint is not None and not r.checkpoint.external
        if (m := mechanism_values(r, data_dir, runs_dir)) is not None
    ]
    header = [key_header(results), "seeds", *(label for _, label in QUANTITIES)]
    rows = []
    for label, group in by_setting([r for r, _ in measured]):
        values = [m for r, m in measured if r.label == label]
        rows.append(
            [
                label,
                str(len(group)),
                *(_cell([v[k] for v in values]) for k, _ in QUANTITIES),
            ]
        )
    sentences: list[str] = []
    if key_header(results) == "beta" and len({r.beta for r, _ in measured}) > 2:
        for name, rho, p in trends(measured):
            if p < ALPHA:
                trend = "falls" if rho < 0 else "rises"
                what = f"{trend} with beta (significant after Holm's correction)"
            else:
                what = "shows no significant trend with beta"
            sentences.append(
                f"- {name} {what}: Spearman rho {rho:+.2f}, Holm-adjusted p {p:.3g} "
                f"({len(measured)} models)."
            )
    return (header, rows), sentences
