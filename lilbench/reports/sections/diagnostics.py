"""Representation diagnostics per trained model: isometry errors, gradients, Lipschitz
estimates, within-class distance histograms and a 2-D map (recomputed per report: the
figures need the models' representations)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from torch import nn

from lilbench.data import Dataset, load_dataset
from lilbench.diagnostics import diagnose
from lilbench.reports.aggregate import Table, key_header
from lilbench.reports.inspect_plots import distance_figure, embedding_figure
from lilbench.reports.render import md_table, slug
from lilbench.reports.sections.base import SECTIONS, ReportContext, Section
from lilbench.results.suite_results import ModelResult, setting_name
from lilbench.training.checkpoint import load_model


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


INSPECT_KEYS = (
    ("isometry_error_within_class", "isometry error (same class)"),
    ("isometry_error_all_pairs", "isometry error (all pairs)"),
    ("input_grad_norm_mean", "mean input-gradient norm"),
    ("lipschitz_sampled_pairs", "Lipschitz (sampled pairs)"),
    ("jacobian_spectral_norm_max", "max Jacobian spectral norm"),
)


def inspect_section(ctx: ReportContext) -> tuple[Table, list[str]]:
    """Diagnostics of every trained model (deterministic and quick)."""
    results = ctx.results
    header = [key_header(results), "seed", *[label for _, label in INSPECT_KEYS], "2-D map"]
    rows, images = [], []
    for r, model, data in loaded_models(results, ctx.data_dir, trained_only=True):
        diag = diagnose(model, data.x_test, data.y_test, seed=r.seed)
        stem = f"{ctx.suite.name}-{slug(setting_name(r.setting))}-seed{r.seed}"
        title = f"{setting_name(r.setting)}, seed {r.seed}"
        distance_figure(diag, ctx.out_dir / f"{stem}-distances.png", title)
        embedding_figure(diag, ctx.out_dir / f"{stem}-embedding.png", title)
        rows.append(
            [
                r.label,
                str(r.seed),
                *[f"{diag.summary[k]:.4g}" for k, _ in INSPECT_KEYS],
                str(diag.summary["embedding"]),
            ]
        )
        images += [
            f"![distances {title}]({stem}-distances.png)",
            f"![map {title}]({stem}-embedding.png)",
        ]
    return (header, rows), images


@SECTIONS.register("diagnostics")
class Diagnostics(Section):
    order = 120

    def applies(self, ctx: ReportContext) -> bool:
        return ctx.suite.inspect

    def render(self, ctx: ReportContext) -> list[str]:
        table, images = inspect_section(ctx)
        ctx.tables["diagnostics"] = table
        return [
            "## Representation diagnostics (test split)",
            "",
            "Isometry error: mean |D_phi - D_x| / mean D_x over pairs of test points (x the "
            "input, phi the last representation). Lipschitz (sampled pairs): the largest "
            "||phi(x) - phi(x')|| / ||x - x'|| for x' at 1% of the typical input distance. "
            "Histograms: within-class pairwise distances, input vs representation (the "
            "paper's Figure 2B); maps: the representation in 2-D (Figures 2A and 4B).",
            "",
            md_table(table),
            "",
            *images,
            "",
        ]
