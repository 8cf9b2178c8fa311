"""Evidence "clean-cost": what LIL costs in clean accuracy."""

from __future__ import annotations

from lilbench.reports.claims.base import FAILS, HOLDS, Finding, NoParams, SuiteResults, evidence
from lilbench.reports.claims.common import lil_settings, metric, reference_models, row_name
from lilbench.results.stats import estimate


class CleanCostParams(NoParams):
    up_to: float = 1.0  # the settings up to this beta are held to the criterion
    at_most_pp: float = 1.0  # the largest mean loss allowed, in percentage points


@evidence("clean-cost", CleanCostParams)
def clean_cost(res: SuiteResults, params: CleanCostParams) -> Finding:
    """Clean accuracy change from plain cross-entropy per setting (paired by seed, t): holds
    when every setting up to beta `up_to` loses at most `at_most_pp` points."""
    up_to = params.up_to
    at_most = params.at_most_pp / 100
    base = {
        r.seed: metric([r], "clean_test_accuracy")[0] for r in reference_models(res) if r.checkpoint
    }
    parts, worst_in_range = [], 0.0
    for label, group in lil_settings(res):
        diffs = [
            float(r.checkpoint.metrics["clean_test_accuracy"]) - base[r.seed]
            for r in group
            if r.checkpoint is not None and r.seed in base
        ]
        e = estimate(diffs)
        parts.append(f"{row_name(res, label)}: {e.fmt(1, 100)} pp")
        if group[0].setting.beta <= up_to:
            worst_in_range = min(worst_in_range, e.mean)
    ok = worst_in_range >= -at_most
    why = (
        f"largest mean loss up to beta {up_to:g}: {-100 * worst_in_range:.1f} pp "
        f"(criterion: <= {100 * at_most:g} pp)"
    )
    return Finding("", "clean change: " + "; ".join(parts), "", HOLDS if ok else FAILS, why)
