"""Evidence "isometry": does LIL keep within-class distances?"""

from __future__ import annotations

import math

from lilbench.errors import ConfigError
from lilbench.reports.claims.base import FAILS, HOLDS, Finding, NoParams, SuiteResults, evidence
from lilbench.reports.claims.common import lil_settings, metric, reference_models, row_name


class IsometryParams(NoParams):
    below: float = 0.1  # the isometry error some LIL setting must reach


@evidence("isometry", IsometryParams)
def isometry(res: SuiteResults, params: IsometryParams) -> Finding:
    """Within-class isometry error (mean |D_phi - D_x| / mean D_x, test split): the claim holds
    where LIL lowers it below plain cross-entropy's and some setting reaches `below`."""
    below = params.below
    ref = metric(reference_models(res), "test_isometry_error")
    if not ref:
        raise ConfigError(f"{res.suite.name}: no beta = 0 models to compare the isometry with")
    base = sum(ref) / len(ref)
    parts, best, all_lower = [f"beta 0: {base:.3f}"], math.inf, True
    for label, group in lil_settings(res):
        vals = metric(group, "test_isometry_error")
        mean = sum(vals) / len(vals)
        best = min(best, mean)
        all_lower &= mean < base
        parts.append(f"{row_name(res, label)}: {mean:.3f}")
    ok = all_lower and best <= below
    why = (
        f"isometry error {base:.3f} under plain cross-entropy, {best:.3f} at best with LIL "
        f"(criterion: lower at every beta, and <= {below:g} somewhere)"
    )
    measured = "isometry error (test): " + "; ".join(parts)
    return Finding("", measured, "", HOLDS if ok else FAILS, why)
