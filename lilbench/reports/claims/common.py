"""Helpers the kinds of evidence share: which models are LIL's, how a row names a setting,
how it states a comparison, and the certified bracket."""

from __future__ import annotations

import numpy as np

from lilbench.reports.aggregate import Comparison, by_setting, eps_name, key_header
from lilbench.reports.claims.base import SuiteResults
from lilbench.results.suite_results import ModelResult


def is_lil(r: ModelResult) -> bool:
    """Trained with the LIL objective, nothing else (a suite's other defences are not the
    paper's claim)."""
    c = r.checkpoint.config if r.checkpoint is not None else None
    return c is not None and c.method_name == "lil"


def lil_settings(res: SuiteResults) -> list[tuple[str, list[ModelResult]]]:
    return [
        (label, g)
        for label, g in by_setting(res.results)
        if not g[0].setting.reference and all(is_lil(r) for r in g)
    ]


def reference_models(res: SuiteResults) -> list[ModelResult]:
    return [r for r in res.results if r.setting.reference]


def metric(group: list[ModelResult], key: str) -> list[float]:
    return [float(r.checkpoint.metrics[key]) for r in group if r.checkpoint is not None]


def best_of(found: list[Comparison], family: str) -> Comparison | None:
    mine = [c for c in found if c.family == family]
    return max(mine, key=lambda c: c.change) if mine else None


def row_name(res: SuiteResults, label: str) -> str:
    """A setting as a row names it: "beta 10" in a beta sweep, else the method's label."""
    return f"beta {label}" if key_header(res.results) == "beta" else label


def said(res: SuiteResults, c: Comparison | None, family: str) -> str:
    if c is None:
        return f"{family}: not in this suite"
    text = c.boot.fmt(1, 100) if c.boot is not None else f"{c.seeds.fmt(1, 100)} (t)"
    sig = "significant" if c.significant else "not significant"
    return f"{family} {c.where}: largest change {row_name(res, c.setting)}, {text} pp, {sig}"


def with_clean(res: SuiteResults, c: Comparison) -> str:
    """A setting with its clean-accuracy change: a rise bought with clean accuracy says so."""
    return f"{row_name(res, c.setting)} (clean accuracy {c.clean.fmt(1, 100)} pp)"


def lil_only(res: SuiteResults, found: list[Comparison]) -> list[Comparison]:
    lil = {label for label, _ in lil_settings(res)}
    return [c for c in found if c.setting in lil]


def certified_bracket(res: SuiteResults, setting: str, norm: str = "inf") -> str:
    """The bracket [certified, attacked] at the largest certified eps, reference vs setting,
    from the certificates of the norm."""
    from lilbench.results.certificates import brackets

    def bracket(label: str) -> tuple[float, float, float] | None:
        got = []
        for r in res.results:
            cert = r.certificate_of(norm)
            if r.label != label or cert is None:
                continue
            bs = brackets(cert, r.completed_attacks())
            if not bs:
                continue
            b = max(bs, key=lambda b: b.eps)
            got.append((b.eps, b.certified / b.n, b.upper_bound / b.n))
        if not got:
            return None
        return got[0][0], float(np.mean([g[1] for g in got])), float(np.mean([g[2] for g in got]))

    ref_label = next((r.label for r in res.results if r.setting.reference), None)
    pairs = [(ref_label, bracket(ref_label))] if ref_label is not None else []
    pairs.append((setting, bracket(setting)))
    shown = [
        f"{row_name(res, label)}: [{b[1]:.3f}, {b[2]:.3f}]" for label, b in pairs if b is not None
    ]
    if not shown:
        return ""
    eps = next(b[0] for _, b in pairs if b is not None)
    return f"{eps_name(norm)} {eps:g}: " + "; ".join(shown)


def recorded(
    res: SuiteResults, group: list[ModelResult], kind: str, what: str
) -> list[tuple[ModelResult, dict[str, float]]]:
    """Each model's values of a measure (`lilbench.measures`: "geometry", "mechanism"), read
    from the records the suite's run cached; `what` names them where they are missing."""
    from lilbench.reports.claims.base import NotComputed
    from lilbench.results.diagnostic_records import measured

    out = []
    for r in group:
        assert r.checkpoint is not None
        m = measured(r.checkpoint, kind, runs_dir=res.runs_dir, compute=False)
        if m is None:
            raise NotComputed(what, f"lilbench run {res.shown} --runs-dir RUNS")
        out.append((r, m))
    return out
