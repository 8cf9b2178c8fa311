"""Representation diagnostics per trained model: isometry errors, gradients, Lipschitz
estimates, within-class distance histograms and a 2-D map, drawn from each model's inspect
record (`results/inspection.py`; computed by the run, or here once for a runs directory
filled before it was)."""

from __future__ import annotations

from lilbench.reports.aggregate import Table, key_header
from lilbench.reports.inspect_plots import distance_figure, embedding_figure
from lilbench.reports.render import md_table, slug
from lilbench.reports.sections.base import SECTIONS, ReportContext, Section
from lilbench.results.inspection import ensure_inspection
from lilbench.results.suite_results import setting_name

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
    for r in results:
        if r.checkpoint is None or r.checkpoint.external:
            continue  # the diagnostics read a LIL's hidden layer: lilbench's own models
        values = ensure_inspection(
            r.checkpoint, runs_dir=ctx.runs_dir, data_dir=ctx.data_dir, seed=r.seed
        )
        summary = values["summary"]
        stem = f"{ctx.suite.name}-{slug(setting_name(r.setting))}-seed{r.seed}"
        title = f"{setting_name(r.setting)}, seed {r.seed}"
        distance_figure(values, ctx.out_dir / f"{stem}-distances.png", title)
        embedding_figure(values, ctx.out_dir / f"{stem}-embedding.png", title)
        rows.append(
            [
                r.label,
                str(r.seed),
                *[f"{summary[k]:.4g}" for k, _ in INSPECT_KEYS],
                str(summary["embedding"]),
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
