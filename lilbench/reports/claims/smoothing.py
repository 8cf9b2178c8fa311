"""Evidence "smoothing": does smoothing a LIL certify more than smoothing plain cross-entropy,
and how does that compare with smoothing a Gaussian-augmented model (the base classifier
smoothing is built for)?"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lilbench.errors import ConfigError
from lilbench.reports.claims.base import FAILS, HOLDS, Finding, NoParams, SuiteResults, evidence
from lilbench.reports.claims.common import lil_settings, row_name

if TYPE_CHECKING:
    from lilbench.reports.sections.smoothing import RadiusChange


@evidence("smoothing", NoParams)
def smoothing(res: SuiteResults, params: NoParams) -> Finding:
    """Holds when some LIL setting's average certified radius rises significantly over
    plain cross-entropy's at some sigma (paired hierarchical bootstrap, Holm over the
    section's comparisons, as the report's smoothing section tests it)."""
    from lilbench.reports.sections.smoothing import radius_changes

    if not res.suite.smoothings:
        raise ConfigError(f"{res.suite.name}: needs `smoothing:` in the suite")
    sigmas = [s.sigma for s in res.suite.smoothings]
    found = radius_changes(res.results, sigmas)
    lil = {label for label, _ in lil_settings(res)}
    ours = [c for c in found if c.setting in lil]
    others = [c for c in found if c.setting not in lil]

    def fmt(cs: list[RadiusChange]) -> str:
        return ", ".join(
            f"{row_name(res, c.setting)} at sigma {c.sigma:g}: {c.boot.fmt(3)}"
            + (" (significant)" if c.significant else "")
            for c in cs
        )

    measured = "ACR change from cross-entropy: " + (fmt(ours) or "no LIL setting")
    if others:
        measured += "; beside LIL: " + fmt(others)
    rises = [c for c in ours if c.significant and c.boot.value > 0]
    verdict = HOLDS if rises else FAILS
    why = (
        "significant ACR rises for " + ", ".join(row_name(res, c.setting) for c in rises)
        if rises
        else "no LIL setting's average certified radius rises significantly"
    ) + " (Holm over the report section's comparisons)"
    return Finding("", measured, "", verdict, why)
