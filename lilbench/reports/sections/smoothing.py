"""Randomized smoothing: certified L2 radii of each setting's smoothed classifier, and each
setting's change in average certified radius from plain cross-entropy."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lilbench.certify.smoothing import ABSTAIN, SmoothingSpec
from lilbench.reports.render import md_table
from lilbench.reports.sections.base import SECTIONS, ReportContext, Section
from lilbench.results.comparisons import (
    ALPHA,
    BOOTSTRAP_RESAMPLES,
    PerImageScore,
    by_setting,
    key_header,
    paired_family,
)
from lilbench.results.stats import Bootstrap, hierarchical_bootstrap
from lilbench.results.suite_results import ModelResult
from lilbench.schemas import SmoothingRecord

CELL_RESAMPLES = 1000


def _radii(rec: SmoothingRecord) -> np.ndarray:
    """Per image: the certified radius where the smoothed class is the label, else 0."""
    return np.array(
        [
            float(r) if p == y and p != ABSTAIN else 0.0
            for p, r, y in zip(rec.predictions, rec.radii, rec.labels, strict=True)
        ]
    )


def _certified(rec: SmoothingRecord, radius: float) -> np.ndarray:
    """Per image: 1 where the smoothed class is the label with a radius of at least r."""
    return np.array(
        [
            float(p == y and p != ABSTAIN and r >= radius)
            for p, r, y in zip(rec.predictions, rec.radii, rec.labels, strict=True)
        ]
    )


def _records(group: list[ModelResult], sigma: float) -> list[SmoothingRecord]:
    return [rec for r in group if (rec := r.smoothed.get(sigma)) is not None]


def _cell(rows: list[np.ndarray], digits: int = 4) -> str:
    if not rows or len({len(v) for v in rows}) != 1:
        return "missing"
    if len(rows) == 1:
        return f"{rows[0].mean():.{digits}f}"
    boot = hierarchical_bootstrap(np.stack(rows), resamples=CELL_RESAMPLES, seed=0)
    return boot.fmt(digits)


@dataclass(frozen=True)
class RadiusChange:
    setting: str
    sigma: float
    boot: Bootstrap
    p_holm: float

    @property
    def significant(self) -> bool:
        return self.p_holm < ALPHA


def radius_changes(results: list[ModelResult], sigmas: list[float]) -> list[RadiusChange]:
    """Each setting's change in average certified radius from the reference, paired by seed
    and image (hierarchical bootstrap, 2,000 resamples), Holm over every change listed."""

    def score(sigma: float) -> PerImageScore:
        def get(r: ModelResult) -> np.ndarray | None:
            rec = r.smoothed.get(sigma)
            return None if rec is None else _radii(rec)

        return get

    found = paired_family(results, [(sigma, score(sigma)) for sigma in sigmas])
    return [RadiusChange(label, sigma, boot, p) for sigma, label, boot, p in found]


@SECTIONS.register("smoothing")
class Smoothing(Section):
    order = 63  # after the certified bracket, beside the noise it certifies against

    def applies(self, ctx: ReportContext) -> bool:
        return bool(ctx.suite.smoothings) and any(r.smoothed for r in ctx.results)

    def render(self, ctx: ReportContext) -> list[str]:
        out = [
            "## Randomized smoothing: certified L2 radii",
            "",
            "The smoothed classifier predicts the class the model gives most often under "
            "N(0, sigma^2) noise (Cohen, Rosenfeld & Kolter 2019). CERTIFY: the top class "
            "from n0 draws, its count over n draws, the one-sided Clopper-Pearson lower bound "
            "pA at alpha; abstain when pA < 1/2, else the certified L2 radius is "
            "sigma Phi^-1(pA). An image counts at radius r when its smoothed class is the label "
            "and its radius is at least r; abstentions count as not certified. ACR: the average "
            "certified radius (0 where wrong or abstained). Intervals: the hierarchical "
            "bootstrap over seeds and test images.",
            "",
        ]
        scope = _scope(ctx)
        if scope:
            out += [scope, ""]
        for spec in ctx.suite.smoothings:
            out += self._table(ctx, spec)
        out += self._changes(ctx)
        out += self._checks(ctx)
        return out

    @staticmethod
    def _table(ctx: ReportContext, spec: SmoothingSpec) -> list[str]:
        header = [key_header(ctx.results), "seeds", *(f"r={r:g}" for r in spec.radii)]
        header += ["ACR", "abstained", "s/image"]
        rows = []
        for label, group in by_setting(ctx.results):
            recs = _records(group, spec.sigma)
            if not recs and not ctx.suite.smoothings_for(group[0].setting, group[0].seed):
                continue  # outside `smoothing:`'s scope, not missing
            radii = [_radii(rec) for rec in recs]
            cells = [_cell([_certified(rec, r) for rec in recs]) for r in spec.radii]
            abst = [np.array([p == ABSTAIN for p in rec.predictions], dtype=float) for rec in recs]
            per_image = [
                float((rec.model_extra or {}).get("seconds", 0.0)) / max(1, rec.samples.n)
                for rec in recs
            ]
            secs = f"{np.mean(per_image):.3f}" if recs else "missing"
            rows.append([label, str(len(recs)), *cells, _cell(radii, 3), _cell(abst), secs])
        ctx.tables[f"smoothing-{spec.sigma:g}"] = (header, rows)
        ceiling = spec.ceiling
        return [
            f"### sigma {spec.sigma:g} (n0 {spec.n0}, n {spec.n}, alpha {spec.alpha:g})",
            "",
            f"With n = {spec.n} draws at alpha {spec.alpha:g} no radius above {ceiling:.3f} "
            f"({ceiling / spec.sigma:.2f} sigma) can be certified, whatever the model: a 0 "
            "beyond it is the sample's limit, not a finding. s/image: CERTIFY's seconds per "
            "image (the checks apart), mean over seeds.",
            "",
            md_table((header, rows)),
            "",
        ]

    @staticmethod
    def _changes(ctx: ReportContext) -> list[str]:
        sigmas = [s.sigma for s in ctx.suite.smoothings]
        found = radius_changes(ctx.results, sigmas)
        if not found:
            return []
        header = ["setting", *(f"sigma {s:g}" for s in sigmas)]
        at = {(c.setting, c.sigma): c for c in found}
        rows = [
            [s, *(_fmt(at.get((s, g))) for g in sigmas)]
            for s in dict.fromkeys(c.setting for c in found)
        ]
        ctx.tables["smoothing-changes"] = (header, rows)
        sig = [c for c in found if c.significant]
        said = (
            "Significant: "
            + "; ".join(f"{c.setting} at sigma {c.sigma:g}: {c.boot.fmt(3)}" for c in sig)
            + "."
            if sig
            else "No setting's change in ACR is significant."
        )
        return [
            "### Change in ACR from plain cross-entropy",
            "",
            "Per image the certified radius (0 where not certified), paired by seed and image; "
            f"{BOOTSTRAP_RESAMPLES:,} bootstrap resamples, Holm over the {len(found)} "
            "comparisons (`*`: significant at 0.05).",
            "",
            md_table((header, rows)),
            "",
            said,
            "",
        ]

    @staticmethod
    def _checks(ctx: ReportContext) -> list[str]:
        recs = [rec for r in ctx.results for rec in r.smoothed.values() if rec is not None]
        failed = [c.name for rec in recs for c in rec.checks if not c.passed]
        tried = sum(int((c.model_extra or {}).get("tried", 0)) for rec in recs for c in rec.checks)
        if failed:
            return [f"Checks: {len(failed)} failed ({'; '.join(sorted(set(failed)))}).", ""]
        return [
            f"Checks: every smoothing check passed on all {len(recs)} records (radii within "
            "the ceiling; abstentions not scored; deterministic per seed; no certified image "
            f"predicted wrong beyond what alpha allows under SmoothAdv's attack within its "
            f"radius: {tried} images attacked in all).",
            "",
        ]


def _fmt(c: RadiusChange | None) -> str:
    if c is None:
        return "missing"
    return c.boot.fmt(3) + (" *" if c.significant else "")


def _scope(ctx: ReportContext) -> str:
    """What `smoothing:` left out of the suite, said once (empty when it smooths everything)."""
    scope, suite = ctx.suite.smoothing_scope, ctx.suite
    parts = []
    if scope.settings is not None:
        parts.append("settings " + ", ".join(scope.settings))
    if scope.seeds is not None:
        parts.append(
            ("seed " if len(scope.seeds) == 1 else "seeds ") + ", ".join(map(str, scope.seeds))
        )
    if scope.test_limit and scope.test_limit != suite.test_limit:
        parts.append(f"the first {scope.test_limit} test images")
    if not parts:
        return ""
    return (
        "This suite smooths part of its models (the scope under `smoothing:`): "
        + "; ".join(parts)
        + "."
    )
