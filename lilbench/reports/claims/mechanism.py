"""Evidence "mechanism": does LIL bound the input gradients?"""

from __future__ import annotations

from lilbench.errors import ConfigError
from lilbench.reports.claims.base import (
    FAILS,
    HOLDS,
    Finding,
    NoParams,
    SuiteResults,
    evidence,
)
from lilbench.reports.claims.common import is_lil, recorded


@evidence("mechanism")
def mechanism(res: SuiteResults, params: NoParams) -> Finding:
    """The paper's mechanism: LIL bounds the input gradients. Spearman's rho of the mean
    input-gradient norm (and the other quantities of the report's mechanism section) with
    beta over every LIL and plain cross-entropy model, Holm over the quantities: holds when
    the input-gradient norm falls significantly as beta rises. Read from the records the
    suite's report cached (`mechanism: true`); not run when they are missing."""
    from lilbench.reports.mechanism import QUANTITIES, trends

    if not res.suite.mechanism:
        raise ConfigError(f"{res.suite.name}: the mechanism needs `mechanism: true` in the suite")
    group = [r for r in res.results if r.checkpoint is not None and (is_lil(r))]
    measured = recorded(res, group, "mechanism", "the mechanism's records")
    found = trends(measured)
    grad_name = QUANTITIES[0][1]
    parts = []
    for name, rho, p in found:
        sig = "significant" if p < 0.05 else "not significant"
        parts.append(f"{name}: rho {rho:+.2f} with beta, Holm p {p:.2g} ({sig})")
    _, rho, p = next(t for t in found if t[0] == grad_name)
    if p < 0.05 and rho < 0:
        verdict, why = HOLDS, f"the {grad_name} falls significantly as beta rises"
    elif p < 0.05:
        verdict, why = FAILS, f"the {grad_name} rises significantly with beta"
    else:
        verdict, why = FAILS, f"the {grad_name} shows no significant trend with beta"
    return Finding(
        "",
        "; ".join(parts) + f" ({len(measured)} models)",
        "",
        verdict,
        why + " (Spearman over the models, Holm over the quantities)",
    )
