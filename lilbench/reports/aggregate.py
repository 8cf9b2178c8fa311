"""Tables over seeds: means with 95% intervals per setting, worst cases, checks, the
verdict's tables and the certified bracket. The numbers come from
`lilbench.results.comparisons`, the sentences from `lilbench.reports.prose`."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from lilbench.reports.indicators import masking_summary
from lilbench.reports.prose import answer, answer_in_norm, family_sentences
from lilbench.reports.summary import curve, normalised_auc
from lilbench.results.comparisons import (
    ALPHA,
    VERDICT_EPS,
    WORST,
    Comparison,
    by_setting,
    comparisons,
    key_header,
    one_step,
    other_threats,
    paper_labels,
    point_bits,
    strongest,
    worst_case_attacks,
    worst_case_masks,
    worst_eps,
)
from lilbench.results.stats import (
    estimate,
    halving_eps,
    hierarchical_bootstrap,
    proportion_estimate,
)
from lilbench.results.suite_results import ModelResult, setting_name
from lilbench.threats import threat

__all__ = [
    "ALPHA",
    "VERDICT_EPS",
    "WORST",
    "Comparison",
    "by_setting",
    "comparisons",
    "key_header",
    "strongest",
    "worst_case_attacks",
    "worst_case_masks",
]

Table = tuple[list[str], list[list[str]]]


FLOAT32_DIFFS = "float32_prediction_differences"  # a float64 model's metric


TABLE_RESAMPLES = 1000  # per table cell of an accuracy (hundreds of cells per report)


def _est(values: list[float]) -> str:
    return estimate(values).fmt() if values else "missing"


def _prop(values: list[float], masks: list[np.ndarray | None] | None = None) -> str:
    """An accuracy over seeds, its interval inside [0, 1]: with every seed's per-image
    correctness, the hierarchical bootstrap over seeds and test images (the verdict's; 1,000
    resamples, seed 0); without it (clean accuracy of the whole test set), Student's t on the
    logit scale. One seed: the value alone."""
    if not values:
        return "missing"
    if len(values) < 2:
        return estimate(values).fmt()
    if masks and all(m is not None for m in masks) and len({len(m) for m in masks}) == 1:  # type: ignore[arg-type]
        stacked = np.stack(masks)  # type: ignore[arg-type]
        return hierarchical_bootstrap(stacked, resamples=TABLE_RESAMPLES, seed=0).fmt()
    return proportion_estimate(values).fmt()


def clean_table(results: list[ModelResult]) -> Table:
    levels = max(
        (len(r.checkpoint.metrics.get("level_accuracy", [])) for r in results if r.checkpoint),
        default=0,
    )
    header = [key_header(results), "seeds", "clean test accuracy", "isometry error (test)"]
    for i in range(levels):
        header += [f"level {i} accuracy", f"level {i} isometry error"]
    # Float64 models (the authors' preset) are attacked as their float32 cast.
    cast = any(r.checkpoint and FLOAT32_DIFFS in r.checkpoint.metrics for r in results)
    if cast:
        header += ["float32 cast: accuracy", "test images predicted differently, per seed"]
    rows = []
    for label, group in by_setting(results):
        metrics = [r.checkpoint.metrics for r in group if r.checkpoint]
        row = [
            label,
            str(len(metrics)),
            _prop([m["clean_test_accuracy"] for m in metrics]),
            _est([m["test_isometry_error"] for m in metrics if "test_isometry_error" in m])
            if any("test_isometry_error" in m for m in metrics) or not metrics
            else "n/a",
        ]
        for i in range(levels):
            row += [
                _prop([m["level_accuracy"][i] for m in metrics if "level_accuracy" in m]),
                _est(
                    [m["level_isometry_error"][i] for m in metrics if "level_isometry_error" in m]
                ),
            ]
        if cast:
            with_cast = [m for m in metrics if FLOAT32_DIFFS in m]
            row += [
                _prop([m["float32_clean_test_accuracy"] for m in with_cast])
                if with_cast
                else "n/a (float32)",
                " / ".join(str(m[FLOAT32_DIFFS]) for m in with_cast) or "n/a",
            ]
        rows.append(row)
    return header, rows


def attack_table(results: list[ModelResult], attack: str) -> Table | None:
    recs = [rec for r in results if (rec := r.attacks.get(attack)) is not None]
    if not recs:
        return None
    xs, _ = curve(recs[0])
    label = "eps" if recs[0].sweep == "eps" else "step"
    header = [key_header(results), "seeds", "clean", *[f"{label}={x:.3g}" for x in xs], "AUC"]
    rows = []
    for setting, group in by_setting(results):
        got = [rec for r in group if (rec := r.attacks.get(attack)) is not None]
        if not got:
            rows.append([setting, "0", *["missing"] * (len(xs) + 2)])
            continue
        curves = [curve(rec) for rec in got]
        bits = [
            [point_bits(rec, p) for p in sorted(rec.points, key=lambda p: p.along(rec.sweep))]
            for rec in got
        ]
        rows.append(
            [
                setting,
                str(len(got)),
                _prop([rec.clean.accuracy for rec in got]),
                *[_prop([c[1][i] for c in curves], [b[i] for b in bits]) for i in range(len(xs))],
                _est([normalised_auc(*c) for c in curves]),
            ]
        )
    return header, rows


def _worst_cell(group: list[ModelResult], eps: float, norm: str) -> str:
    masks = [m for r in group if (m := worst_case_masks(r, norm).get(eps)) is not None]
    return _prop([float(m[0].mean()) for m in masks], [m[0] for m in masks])


def eps_name(norm: str) -> str:
    """A table's eps column in a norm: "eps" in L-inf, "L2 eps" and so on elsewhere."""
    t = threat(norm)
    return "eps" if t.is_default else f"{t.label} eps"


def worst_case_table(results: list[ModelResult], norm: str = "inf") -> Table | None:
    eps = worst_eps(results, norm)
    if not eps:
        return None
    name = eps_name(norm)
    header = [key_header(results), "seeds", *[f"{name}={e:.3g}" for e in eps]]
    rows = [
        [
            setting,
            str(len(group)),
            *[_worst_cell(group, e, norm) for e in eps],
        ]
        for setting, group in by_setting(results)
    ]
    return header, rows


def certificate_methods_table(results: list[ModelResult], norm: str = "inf") -> Table | None:
    """Method x eps: images each certificate proves, summed over every model, and how many
    it adds to the union of the certificates listed above it (loosest first), so a reader
    sees what each tighter bound buys."""
    from lilbench.certify.runner import unpack_bits
    from lilbench.certify.spec import METHODS

    certs = [c for r in results if (c := r.certificate_of(norm)) is not None]
    if not certs:
        return None
    methods = [m for m in METHODS if any(p.method == m for c in certs for p in c.points)]
    eps_list = sorted({float(p.eps) for c in certs for p in c.points})
    name = eps_name(norm)
    header = ["certificate", *(f"{name}={e:g}" for e in eps_list)]
    rows = []
    for i, method in enumerate(methods):
        cells = []
        for e in eps_list:
            proven = added = 0
            for c in certs:
                at = {p.method: p for p in c.points if abs(float(p.eps) - e) < 1e-12}
                if method not in at:
                    continue
                mine = unpack_bits(at[method].bits, at[method].n)
                before = np.zeros_like(mine)
                for m in methods[:i]:
                    if m in at:
                        before |= unpack_bits(at[m].bits, at[m].n)
                proven += int(mine.sum())
                added += int((mine & ~before).sum())
            cells.append(f"{proven}" if i == 0 else f"{proven} (+{added})")
        rows.append([method, *cells])
    return header, rows


def checks_table(results: list[ModelResult]) -> Table:
    rows = []
    for r in results:
        for name, rec in r.attacks.items():
            if rec is None:
                continue
            failed = [c.name for c in rec.checks if not c.passed]
            verdict = "all pass" if not failed else "**FAIL**: " + "; ".join(failed)
            rows.append([r.label, str(r.seed), name, str(len(rec.checks)), verdict])
    return [key_header(results), "seed", "attack", "checks", "outcome"], rows


def model_checks_table(results: list[ModelResult]) -> Table | None:
    with_checks = [(r, r.model_checks) for r in results if r.model_checks]
    if not with_checks:
        return None
    names = [c.name for c in with_checks[0][1].checks]
    rows = []
    for r, checked in with_checks:
        outcome = {c.name: c for c in checked.checks}
        rows.append(
            [
                r.label,
                str(r.seed),
                *["pass" if outcome[n].passed else "**FAIL**" for n in names],
            ]
        )
    return [key_header(results), "seed", *names], rows


def failed_model_check_details(results: list[ModelResult]) -> list[str]:
    return [
        f"- {setting_name(r.setting)}, seed {r.seed}, {c.name}: {c.detail}"
        for r in results
        if r.model_checks
        for c in r.model_checks.checks
        if not c.passed
    ]


def verdict(results: list[ModelResult]) -> tuple[list[str], Table, Table, Table]:
    """An answer, a compact table (attack at eps x setting), the detailed table of changes vs
    the reference (beta = 0, plain CE), and the eps that halves accuracy.

    Each change in robust accuracy is estimated on the same test images, paired by seed, with
    a hierarchical bootstrap over seeds and images (both sources of noise); its two-sided
    p-values are adjusted by Holm's procedure over every comparison in the table, holding the
    family-wise error at 5%: only what survives is marked significant. Where records carry no
    per-image bits (older ones), the Student t over seeds stands in, and the table says so.
    """
    header_key = key_header(results)
    said = (lambda s: f"beta = {s}") if header_key == "beta" else (lambda s: s)
    labels = [label for label, group in by_setting(results) if not group[0].setting.reference]
    if not any(r.setting.reference for r in results):
        return ["No beta = 0 models: nothing to compare with."], ([], []), ([], []), ([], [])
    found = comparisons(results)
    header = [
        "attack",
        header_key,
        "robust change (pp), bootstrap 95%",
        "over seeds only (t 95%)",
        "clean change (pp, t 95%)",
        f"p (Holm over {len(found)})",
    ]
    rows, sentences = [], []
    verdicts: dict[str, tuple[str, list[str], list[str]]] = {}
    best: dict[str, tuple[float, str, str, str]] = {}
    for comp in found:
        family, where, setting, d, c = comp.family, comp.where, comp.setting, comp.seeds, comp.clean
        sig = comp.significant
        change = comp.fmt().removesuffix(" *")
        rows.append(
            [family, setting, comp.fmt(), d.fmt(1, 100), c.fmt(1, 100), f"{comp.p_holm:.3g}"]
        )
        mean = comp.change
        if family not in best or mean > best[family][0]:
            best[family] = (mean, setting, change, c.fmt(1, 100))
        _, rises, falls = verdicts.setdefault(family, (where, [], []))
        if sig:
            (rises if mean > 0 else falls).append(setting)
    answer_text = _answer_text(results, verdicts, best, said, header_key, rows)
    sentences.append(answer_text)
    # Compact: one row per attack at its eps, one column per setting; clean change last.
    compact_rows = []
    for family, (where, _, _) in verdicts.items():
        cells = {r[1]: r[2] for r in rows if r[0] == family}
        compact_rows.append([f"{family} {where}", *(cells.get(s, "-") for s in labels)])
    clean_cells = {r[1]: r[4] for r in rows}
    compact_rows.append(["clean accuracy", *(clean_cells.get(s, "-") for s in labels)])
    compact = (["change from the reference (pp)", *(said(s) for s in labels)], compact_rows)
    sentences += family_sentences(verdicts, header_key)
    return sentences, compact, (header, rows), _halving_table(results, header_key)


def _answer_text(
    results: list[ModelResult],
    verdicts: dict[str, tuple[str, list[str], list[str]]],
    best: dict[str, tuple[float, str, str, str]],
    said: Callable[[str], str],
    header_key: str,
    rows: list[list[str]],
) -> str:
    """The answer: in L-inf, then a sentence per other threat model that ran (alone where no
    L-inf attack did), with the one-seed caveat."""
    masking = [
        bool(c.passed)
        for r in results
        if r.model_checks
        for c in r.model_checks.checks
        if c.name == "gradient-free does not beat gradient attacks"
    ]
    change_of = {(row[0], row[1]): row[2] for row in rows}
    answer_text = answer(
        verdicts,
        best,
        said,
        header_key,
        strong=strongest(results, verdicts),
        single=one_step(results),
        cells=change_of,
        masking=masking,
        indicators=masking_summary(results),
        paper_families=paper_labels(results),
    )
    alone = not answer_text.startswith("**Answer")
    in_norms = [
        answer_in_norm(verdicts, best, said, header_key, strong=strong_t, threat=t, alone=alone)
        for t in other_threats()
        if (strong_t := strongest(results, verdicts, t.key)) is not None and strong_t in verdicts
    ]
    if in_norms and not alone:
        answer_text += " " + " ".join(in_norms)
    elif in_norms:  # no L-inf attack: the other norms answer alone
        answer_text = "**Answer.** No L-inf attack ran. " + " ".join(in_norms)
    if len({r.seed for r in results}) == 1 and answer_text.startswith("**Answer"):
        answer_text += (
            " (One training seed: the intervals cover the test sample's noise only, not the"
            " variation between trainings.)"
        )
    return answer_text


def _halving_table(results: list[ModelResult], header_key: str) -> Table:
    """The eps at which accuracy halves, per setting and eps-sweep attack."""
    eps_labels = sorted(
        {k for r in results for k, v in r.attacks.items() if v is not None and v.sweep == "eps"}
    )
    h_rows = []
    for setting, group in by_setting(results):
        row = [setting]
        for label in eps_labels:
            vals = []
            for r in group:
                rec = r.attacks.get(label)
                if rec is not None:
                    xs, ys = curve(rec)
                    h = halving_eps(xs, ys, rec.clean.accuracy)
                    if h is not None:
                        vals.append(h)
            row.append(_est(vals) if vals else "not reached")
        h_rows.append(row)
    return [header_key, *eps_labels], h_rows


def certified_table(results: list[ModelResult], norm: str = "inf") -> Table | None:
    """Setting x eps: the certified lower bound and the attacks' upper bound on robust
    accuracy (means over seeds), and the images certified yet broken (must be 0); the
    certificates of one norm, paired with the attacks of that norm."""
    from lilbench.results.certificates import brackets

    with_cert = [r for r in results if r.certificate_of(norm) is not None]
    if not with_cert:
        return None
    per: dict[tuple[str, float], list[tuple[float, float, int]]] = {}
    for r in with_cert:
        cert = r.certificate_of(norm)
        assert cert is not None
        for b in brackets(cert, r.completed_attacks()):
            upper = b.upper / b.n if b.upper is not None else cert.clean.accuracy
            per.setdefault((r.label, b.eps), []).append((b.certified / b.n, upper, b.violations))
    eps_list = sorted({e for _, e in per})
    name = eps_name(norm)
    header = [key_header(results), *(f"{name}={e:g}" for e in eps_list), "certified but broken"]
    rows = []
    for label, _ in by_setting(with_cert):
        cells, broken = [], 0
        for e in eps_list:
            got = per.get((label, e), [])
            if not got:
                cells.append("missing")
                continue
            lo = sum(c for c, _, _ in got) / len(got)
            up = sum(u for _, u, _ in got) / len(got)
            broken += sum(v for _, _, v in got)
            cells.append(f"{lo:.4f} .. {up:.4f}")
        rows.append([label, *cells, "0" if broken == 0 else f"**FAIL: {broken}**"])
    return header, rows
