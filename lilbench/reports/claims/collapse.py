"""Evidence "collapse": within-class collapse (NC1) under LIL, from the geometry panel."""

from __future__ import annotations

import numpy as np

from lilbench.errors import ConfigError
from lilbench.reports.claims.base import (
    FAILS,
    HOLDS,
    Finding,
    NoParams,
    SuiteResults,
    evidence,
)
from lilbench.reports.claims.common import is_lil, lil_settings, recorded, row_name
from lilbench.results.suite_results import ModelResult


def geometry_panels(
    res: SuiteResults, group: list[ModelResult]
) -> list[tuple[ModelResult, dict[str, float]]]:
    """The geometry panel of each model, read from the records the suite's run cached."""
    if not res.suite.geometry:
        raise ConfigError(f"{res.suite.name}: the geometry panel needs `geometry: true`")
    return recorded(res, group, "geometry", "the geometry panel's records")


@evidence("collapse")
def collapse(res: SuiteResults, params: NoParams) -> Finding:
    """Within-class collapse (NC1, Papyan et al. 2020) under LIL against plain cross-entropy:
    holds when every LIL setting's mean NC1 is above cross-entropy's and NC1 rises with beta
    (Spearman over the LIL and cross-entropy models, p < 0.05)."""
    from scipy import stats

    group = [r for r in res.results if r.checkpoint is not None and is_lil(r)]
    found = geometry_panels(res, group)
    ref = [m["nc1"] for r, m in found if r.setting.reference]
    if not ref:
        raise ConfigError(f"{res.suite.name}: no beta = 0 models to compare NC1 with")
    base = float(np.mean(ref))
    parts, higher = [f"beta 0: {base:.3f}"], True
    for label, _ in lil_settings(res):
        mean = float(np.mean([m["nc1"] for r, m in found if r.label == label]))
        higher &= mean > base
        parts.append(f"{row_name(res, label)}: {mean:.3f}")
    t = stats.spearmanr([r.beta for r, _ in found], [m["nc1"] for _, m in found])
    rho, p = float(t.statistic), float(t.pvalue)
    ok = higher and rho > 0 and p < 0.05
    why = (
        f"NC1 above cross-entropy's at every beta: {'yes' if higher else 'no'}; Spearman rho "
        f"{rho:+.2f} with beta, p {p:.2g} over {len(found)} models (criterion: above at every "
        "beta and a significant rise)"
    )
    return Finding(
        "", "NC1 (mean over seeds): " + "; ".join(parts), "", HOLDS if ok else FAILS, why
    )
