"""The mechanism, measured: does a larger beta bound the input gradients and the Lipschitz
constants that the paper's argument is about? Spearman's rank correlation with beta over all
models, Holm-corrected over the quantities."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from scipy import stats
from torch import nn

from lilbench.data import Dataset, load_dataset
from lilbench.diagnostics import mechanism
from lilbench.reports.aggregate import ALPHA, Table, by_setting, key_header
from lilbench.results.stats import estimate, holm
from lilbench.results.suite_results import ModelResult
from lilbench.training.checkpoint import load_model

QUANTITIES = (
    # No "|" in these: they head markdown table columns.
    ("input_grad_norm_mean", "mean input-gradient norm"),
    ("lipschitz_sampled_pairs", "local Lipschitz of phi (sampled)"),
    ("jacobian_spectral_norm_mean", "mean Jacobian spectral norm of phi"),
    ("spectral_norm_product", "product of spectral norms (global)"),
)


def loaded_models(
    results: list[ModelResult], data_dir: Path | None, *, trained_only: bool = False
) -> Iterator[tuple[ModelResult, nn.Module, Dataset]]:
    """Each model of the results with its data set (for diagnostics in reports);
    `trained_only`: lilbench's own models (the diagnostics that read the LIL's hidden layer)."""
    for r in results:
        if r.checkpoint is None or (trained_only and r.checkpoint.external):
            continue
        cfg = r.checkpoint.config
        data = load_dataset(cfg.dataset, data_dir=data_dir, seed=cfg.seed)
        yield r, load_model(r.checkpoint.path, input_dim=data.input_dim), data


def mechanism_section(results: list[ModelResult], data_dir: Path | None) -> tuple[Table, list[str]]:
    measured = [
        (r, mechanism(model, data.x_test, data.y_test, seed=0))
        for r, model, data in loaded_models(results, data_dir, trained_only=True)
    ]
    header = [key_header(results), "seeds", *(label for _, label in QUANTITIES)]
    rows = []
    for label, group in by_setting([r for r, _ in measured]):
        values = [m for r, m in measured if r.label == label]
        rows.append(
            [
                label,
                str(len(group)),
                *(estimate([v[k] for v in values]).fmt(4) for k, _ in QUANTITIES),
            ]
        )
    sentences: list[str] = []
    if key_header(results) == "beta" and len({r.beta for r, _ in measured}) > 2:
        tests = [
            stats.spearmanr([r.beta for r, _ in measured], [m[k] for _, m in measured])
            for k, _ in QUANTITIES
        ]
        adjusted = holm([float(t.pvalue) for t in tests])
        for (_, name), t, p in zip(QUANTITIES, tests, adjusted, strict=True):
            rho = float(t.statistic)
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
