"""The verdict: each setting's change from plain cross-entropy under every attack, paired
by seed, bootstrapped over seeds and images, Holm-corrected over every comparison."""

from __future__ import annotations

from lilbench.reports.render import md_table
from lilbench.reports.sections.base import SECTIONS, ReportContext, Section
from lilbench.results.comparisons import BOOTSTRAP_RESAMPLES
from lilbench.results.stats import floor_note

METHOD = (
    "higher (for clean accuracy too: a loss is negative). Robust changes: estimate "
    "and 95% interval of a paired hierarchical bootstrap (2,000 resamples, seed 0) "
    "that resamples seeds and, shared across them and across settings, test images, "
    "so both the training seed and the finite test sample enter; eps sweeps are "
    "compared at their grid point nearest to eps = 0.1, step-size sweeps at their "
    "strongest step. * marks changes significant after Holm's correction over every "
    "comparison in the details table (family-wise error 5%, two-sided bootstrap "
    "p-values). Clean changes: Student's t over seeds (no per-image clean bits)."
)


@SECTIONS.register("verdict")
class Verdict(Section):
    order = 80

    def applies(self, ctx: ReportContext) -> bool:
        return ctx.verdict is not None

    def render(self, ctx: ReportContext) -> list[str]:
        assert ctx.verdict is not None
        sentences, compact, changes, halving = ctx.verdict
        ctx.tables["verdict"], ctx.tables["verdict-details"] = compact, changes
        ctx.tables["halving"] = halving
        methods = ctx.suite.has_methods
        reference = "plain cross-entropy (lil beta=0)" if methods else "beta = 0"
        return [
            "## Verdict: change from plain cross-entropy training"
            if methods
            else "## Verdict: does robust accuracy rise with beta?",
            "",
            f"Changes from {reference} in percentage points, positive when the setting is "
            + METHOD
            + floor_note(len(changes[1]), BOOTSTRAP_RESAMPLES),
            "",
            md_table(compact),
            "",
            *[f"- {s}" for s in sentences if s.startswith("**") and not s.startswith("**Answer")],
            "",
            "Details (the interval over seeds alone, Student's t, shown for comparison; it "
            "ignores the sampling error of the test images):",
            "",
            md_table(changes),
            "",
            "The eps at which robust accuracy falls to half the clean accuracy (interpolated "
            "in log eps; mean and 95% interval over seeds):",
            "",
            md_table(halving),
            "",
        ]
