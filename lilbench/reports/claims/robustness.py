"""Evidence "robustness": does robust accuracy rise with LIL, under the authors' attacks and
under the strong protocol, in L-inf or another threat model?"""

from __future__ import annotations

from pydantic import field_validator

from lilbench.errors import ConfigError
from lilbench.reports.aggregate import comparisons, strongest
from lilbench.reports.claims.base import (
    AUTHORS_ONLY,
    FAILS,
    HOLDS,
    Finding,
    NoParams,
    NotComputed,
    SuiteResults,
    evidence,
)
from lilbench.reports.claims.common import (
    best_of,
    certified_bracket,
    lil_only,
    row_name,
    said,
    with_clean,
)
from lilbench.threats import ThreatModel, threat


class RobustnessParams(NoParams):
    authors: tuple[str, ...] = ()  # the authors' attacks' labels
    norm: str = "inf"  # the threat model

    @field_validator("norm", mode="before")
    @classmethod
    def _known(cls, value: object) -> str:
        try:
            return threat(str(value)).key
        except ConfigError as exc:
            raise ValueError(str(exc)) from None


@evidence("robustness", RobustnessParams)
def robustness(res: SuiteResults, params: RobustnessParams) -> Finding:
    """Robust accuracy vs plain cross-entropy, as the suite's report tests it (hierarchical
    bootstrap, Holm over every comparison of the suite): under the authors' attacks
    (`authors`, a list of attack labels) and under the strong protocol (the worst case of all
    attacks at eps 0.1, else the strongest attack run). With `norm: "2"`: the same in L2 (the
    worst case of all L2 attacks at L2 eps 1, L2 certificates); the authors' attacks are
    L-inf, so their column says it does not apply."""
    t = threat(params.norm)
    if not t.is_default:
        return _robustness_in(res, t)
    authors = list(params.authors)
    found = lil_only(res, comparisons(res.results))
    families = {c.family for c in found}
    strong_family = strongest(res.results, families)
    theirs = [(f, best_of(found, f)) for f in authors]
    rises_theirs = any(c is not None and c.significant and c.change > 0 for _, c in theirs)
    strong = best_of(found, strong_family) if strong_family is not None else None
    rises_strong = [
        c for c in found if c.family == strong_family and c.significant and c.change > 0
    ]
    if rises_strong:
        verdict = HOLDS
        which = ", ".join(with_clean(res, c) for c in rises_strong)
        why = f"the strong protocol shows a significant rise for {which}"
    elif rises_theirs:
        verdict = AUTHORS_ONLY
        why = "the authors' attacks show a significant rise; the strong protocol shows none"
    else:
        verdict = FAILS
        why = "no significant rise under either the authors' attacks or the strong protocol"
    certified = certified_bracket(res, strong.setting) if strong is not None else ""
    falls = [
        row_name(res, c.setting)
        for c in found
        if c.family == strong_family and c.significant and c.change < 0
    ]
    strong_text = said(res, strong, strong_family or "no standard attack")
    if falls:
        strong_text += f"; falls significantly for {', '.join(falls)}"
    return Finding(
        "; ".join(said(res, c, f) for f, c in theirs),
        strong_text,
        certified,
        verdict,
        why + " (Holm over every comparison of the suite's report)",
    )


def _robustness_in(res: SuiteResults, t: ThreatModel) -> Finding:
    """The robustness row in a norm other than L-inf (its own worst case and certificates)."""
    found = lil_only(res, comparisons(res.results))
    strong_family = strongest(res.results, {c.family for c in found}, t.key)
    if strong_family is None:
        raise NotComputed(f"{t.label} attack entries (norm: {t.key})", f"lilbench run {res.shown}")
    strong = best_of(found, strong_family)
    ours = [c for c in found if c.family == strong_family and c.significant]
    rises = [with_clean(res, c) for c in ours if c.change > 0]
    falls = [row_name(res, c.setting) for c in ours if c.change < 0]
    strong_text = said(res, strong, strong_family)
    if falls:
        strong_text += f"; falls significantly for {', '.join(falls)}"
    if rises:
        verdict = HOLDS
        why = f"the strong {t.label} protocol shows a significant rise for {', '.join(rises)}"
    else:
        verdict, why = FAILS, f"no significant rise under the strong {t.label} protocol"
    return Finding(
        "not applicable: the authors' attacks are L-inf, as the paper ran them",
        strong_text,
        certified_bracket(res, strong.setting, t.key) if strong is not None else "",
        verdict,
        why + " (Holm over every comparison of the suite's report)",
    )
