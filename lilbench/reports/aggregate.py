"""Tables over seeds: means with 95% intervals per beta, worst cases, checks and the verdict."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from lilbench.attacks.base import AttackSpec, attack_facts
from lilbench.attacks.checks import unpack_mask
from lilbench.reports.summary import curve, normalised_auc
from lilbench.results.stats import (
    Bootstrap,
    Estimate,
    estimate,
    halving_eps,
    hierarchical_bootstrap,
    holm,
    paired_p_value,
    proportion_estimate,
)
from lilbench.results.suite_results import ModelResult, setting_name

Table = tuple[list[str], list[list[str]]]
VERDICT_EPS = 0.1  # where eps sweeps are compared (a common MNIST L-inf budget)
ALPHA = 0.05  # family-wise error rate of the verdict's significance marks
BOOTSTRAP_RESAMPLES = 2000
FLOAT32_DIFFS = "float32_prediction_differences"  # a float64 model's metric
TABLE_RESAMPLES = 1000  # per table cell of an accuracy (hundreds of cells per report)


def by_setting(results: list[ModelResult]) -> list[tuple[str, list[ModelResult]]]:
    """Results grouped by setting (a beta, or a method's grid point), in the suite's order
    (the `betas:` shorthand: by increasing beta)."""
    labels = list(dict.fromkeys(r.label for r in results))
    if key_header(results) != "method":
        labels.sort(key=lambda label: next(r.beta for r in results if r.label == label))
    return [(label, [r for r in results if r.label == label]) for label in labels]


def key_header(results: list[ModelResult]) -> str:
    """The first column's name: "beta" for a beta sweep, "method" for a suite of methods."""
    return "beta" if all(r.label == f"{r.beta:g}" for r in results) else "method"


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
    label = "eps" if recs[0]["sweep"] == "eps" else "step"
    header = [key_header(results), "seeds", "clean", *[f"{label}={x:.3g}" for x in xs], "AUC"]
    rows = []
    for setting, group in by_setting(results):
        got = [rec for r in group if (rec := r.attacks.get(attack)) is not None]
        if not got:
            rows.append([setting, "0", *["missing"] * (len(xs) + 2)])
            continue
        curves = [curve(rec) for rec in got]
        key = "eps" if got[0]["sweep"] == "eps" else "step"
        bits = [[_bits(rec, p) for p in sorted(rec["points"], key=lambda p: p[key])] for rec in got]
        rows.append(
            [
                setting,
                str(len(got)),
                _prop([rec["clean"]["accuracy"] for rec in got]),
                *[_prop([c[1][i] for c in curves], [b[i] for b in bits]) for i in range(len(xs))],
                _est([normalised_auc(*c) for c in curves]),
            ]
        )
    return header, rows


def worst_case_masks(r: ModelResult) -> dict[float, tuple[np.ndarray, list[str]]]:
    """Per column eps: which test images every attack left correct at that eps *or below*
    (an example inside a smaller ball is inside this one, so the worst case is monotone in
    eps), and the attacks counted. Columns: the eps at which two or more attacks ran, not
    counting the paper-faithful variants (weaker copies of FGSM and PGD), so that no column
    rests on FGSM alone. Only for suites with model checks (the sanity-checked ones)."""
    if not r.model_checks:
        return {}
    points: list[tuple[float, str, np.ndarray]] = []
    for label, rec in r.completed_attacks().items():
        if rec["sweep"] != "eps":
            continue
        for p in rec["points"]:
            if p["eps"] > 0 and (m := _bits(rec, p)) is not None:
                points.append((round(float(p["eps"]), 9), label, m))
    counted: dict[float, set[str]] = {}
    for e, label, _ in points:
        if not label.endswith("-paper"):
            counted.setdefault(e, set()).add(label)
    out = {}
    for e in sorted(e for e, labels in counted.items() if len(labels) > 1):
        below = [(label, m) for e2, label, m in points if e2 <= e]
        joint = np.logical_and.reduce([m for _, m in below])
        out[e] = (joint, sorted({label for label, _ in below}))
    return out


def _worst(r: ModelResult) -> dict[float, float]:
    return {e: float(m.mean()) for e, (m, _) in worst_case_masks(r).items()}


def _worst_eps(results: list[ModelResult]) -> list[float]:
    grids = [set(_worst(r)) for r in results if r.model_checks]
    return sorted(set.intersection(*grids)) if grids else []


def worst_case_attacks(results: list[ModelResult]) -> dict[float, list[str]]:
    """eps -> the attacks the worst-case column counts (every model's, merged), so a reader
    sees which columns rest on a strong attack and which on FGSM and PGD alone."""
    out: dict[float, set[str]] = {e: set() for e in _worst_eps(results)}
    for r in results:
        for e, (_, labels) in worst_case_masks(r).items():
            if e in out:
                out[e].update(labels)
    return {e: sorted(a) for e, a in out.items()}


def _worst_cell(group: list[ModelResult], eps: float) -> str:
    masks = [m for r in group if (m := worst_case_masks(r).get(eps)) is not None]
    return _prop([float(m[0].mean()) for m in masks], [m[0] for m in masks])


def worst_case_table(results: list[ModelResult]) -> Table | None:
    eps = _worst_eps(results)
    if not eps:
        return None
    header = [key_header(results), "seeds", *[f"eps={e:.3g}" for e in eps]]
    rows = [
        [
            setting,
            str(len(group)),
            *[_worst_cell(group, e) for e in eps],
        ]
        for setting, group in by_setting(results)
    ]
    return header, rows


def checks_table(results: list[ModelResult]) -> Table:
    rows = []
    for r in results:
        for name, rec in r.attacks.items():
            if rec is None:
                continue
            failed = [c["name"] for c in rec["checks"] if not c["passed"]]
            verdict = "all pass" if not failed else "**FAIL**: " + "; ".join(failed)
            rows.append([r.label, str(r.seed), name, str(len(rec["checks"])), verdict])
    return [key_header(results), "seed", "attack", "checks", "outcome"], rows


def model_checks_table(results: list[ModelResult]) -> Table | None:
    with_checks = [r for r in results if r.model_checks]
    if not with_checks:
        return None
    names = [c["name"] for c in with_checks[0].model_checks["checks"]]  # type: ignore[index]
    rows = []
    for r in with_checks:
        outcome = {c["name"]: c for c in r.model_checks["checks"]}  # type: ignore[index]
        rows.append(
            [
                r.label,
                str(r.seed),
                *["pass" if outcome[n]["passed"] else "**FAIL**" for n in names],
            ]
        )
    return [key_header(results), "seed", *names], rows


def failed_model_check_details(results: list[ModelResult]) -> list[str]:
    return [
        f"- {setting_name(r.setting)}, seed {r.seed}, {c['name']}: {c['detail']}"
        for r in results
        if r.model_checks
        for c in r.model_checks["checks"]
        if not c["passed"]
    ]


# --- verdict -------------------------------------------------------------------------------

Scalar = Callable[[ModelResult], float | None]


def _at_eps(label: str, eps: float) -> Scalar:
    def get(r: ModelResult) -> float | None:
        rec = r.attacks.get(label)
        if rec is None:
            return None
        for p in rec["points"]:
            if abs(p["eps"] - eps) < 1e-9:
                return float(p["accuracy"])
        return None

    return get


def _strongest_step(label: str) -> Scalar:
    def get(r: ModelResult) -> float | None:
        rec = r.attacks.get(label)
        return None if rec is None else min(float(p["accuracy"]) for p in rec["points"])

    return get


Mask = Callable[[ModelResult], "np.ndarray | None"]


def _bits(rec: dict[str, Any], point: dict[str, Any]) -> np.ndarray | None:
    bits = point.get("correct_bits")
    return None if not bits else unpack_mask(bits, rec["samples"]["n"])


def _mask_at_eps(label: str, eps: float) -> Mask:
    def get(r: ModelResult) -> np.ndarray | None:
        rec = r.attacks.get(label)
        if rec is None:
            return None
        for p in rec["points"]:
            if abs(p["eps"] - eps) < 1e-9:
                return _bits(rec, p)
        return None

    return get


def _mask_strongest_step(label: str) -> Mask:
    def get(r: ModelResult) -> np.ndarray | None:
        rec = r.attacks.get(label)
        if rec is None:
            return None
        return _bits(rec, min(rec["points"], key=lambda p: p["accuracy"]))

    return get


def _mask_worst(eps: float) -> Mask:
    """Correct under every attack run at `eps` or below (see `worst_case_masks`)."""

    def get(r: ModelResult) -> np.ndarray | None:
        found = worst_case_masks(r).get(round(eps, 9))
        return None if found is None else found[0]

    return get


def _boot(results: list[ModelResult], label: str, mask: Mask) -> Bootstrap | None:
    """Change from the reference to a setting on the same images, paired by seed: the
    hierarchical bootstrap over seeds and test images (2,000 resamples, seed 0)."""
    base = {r.seed: mask(r) for r in results if r.setting.reference}
    pairs = [
        (m, b)
        for r in results
        if r.label == label
        if (m := mask(r)) is not None and (b := base.get(r.seed)) is not None and len(b) == len(m)
    ]
    if not pairs:
        return None
    a = np.stack([m for m, _ in pairs])
    ref = np.stack([b for _, b in pairs])
    return hierarchical_bootstrap(a, ref, resamples=BOOTSTRAP_RESAMPLES, seed=0)


def _clean(r: ModelResult) -> float | None:
    return None if r.checkpoint is None else float(r.checkpoint.metrics["clean_test_accuracy"])


def _paired(results: list[ModelResult], label: str, f: Scalar) -> Estimate | None:
    """Change from the reference (beta = 0, plain CE) to a setting, paired by seed."""
    base = {r.seed: f(r) for r in results if r.setting.reference}
    diffs = [
        v - b
        for r in results
        if r.label == label
        if (v := f(r)) is not None and (b := base.get(r.seed)) is not None
    ]
    return estimate(diffs) if diffs else None


def _families(results: list[ModelResult]) -> list[tuple[str, str, Scalar, Mask]]:
    labels = sorted({k for r in results for k, v in r.attacks.items() if v is not None})
    fams: list[tuple[str, str, Scalar, Mask]] = []
    for label in labels:
        rec = next(r.attacks[label] for r in results if r.attacks.get(label))
        assert rec is not None
        if rec["sweep"] == "eps":
            # The grid point nearest to VERDICT_EPS in log scale (the paper's grid has no 0.1).
            eps = min(
                (p["eps"] for p in rec["points"] if p["eps"] > 0),
                key=lambda e: abs(math.log10(e) - math.log10(VERDICT_EPS)),
            )
            fams.append(
                (label, f"at eps = {eps:.3g}", _at_eps(label, eps), _mask_at_eps(label, eps))
            )
        else:
            eps = rec["points"][0]["eps"]
            where = f"in the {eps:g} ball at its strongest step size"
            fams.append((label, where, _strongest_step(label), _mask_strongest_step(label)))
    if any(_worst(r) for r in results):
        fams.append(
            (
                WORST,
                f"at eps = {VERDICT_EPS:g}",
                lambda r: _worst(r).get(VERDICT_EPS),
                _mask_worst(VERDICT_EPS),
            )
        )
    return fams


def _paired_diffs(results: list[ModelResult], label: str, f: Scalar) -> list[float]:
    base = {r.seed: f(r) for r in results if r.setting.reference}
    return [
        v - b
        for r in results
        if r.label == label
        if (v := f(r)) is not None and (b := base.get(r.seed)) is not None
    ]


@dataclass(frozen=True)
class Comparison:
    """One setting against the reference under one attack family, as the verdict tests it."""

    family: str  # an attack label, or "worst case of all attacks"
    where: str  # "at eps = 0.1", "in the 0.5 ball at its strongest step size"
    setting: str
    seeds: Estimate  # the change over seeds alone (Student's t)
    boot: Bootstrap | None  # the hierarchical bootstrap (None: records without per-image bits)
    clean: Estimate  # the clean accuracy change (t over seeds)
    p_holm: float  # Holm-adjusted over every comparison of the results

    @property
    def change(self) -> float:
        return self.boot.value if self.boot is not None else self.seeds.mean

    @property
    def significant(self) -> bool:
        return self.p_holm < ALPHA

    def fmt(self) -> str:
        """The change in pp with its interval, * when significant."""
        text = self.boot.fmt(1, 100) if self.boot is not None else f"{self.seeds.fmt(1, 100)} (t)"
        return text + (" *" if self.significant else "")


def comparisons(results: list[ModelResult]) -> list[Comparison]:
    """Every (attack family, setting) change from the reference, Holm-adjusted together."""
    labels = [label for label, group in by_setting(results) if not group[0].setting.reference]
    if not any(r.setting.reference for r in results):
        return []
    found = []
    for family, where, f, mask in _families(results):
        for setting in labels:
            diffs = _paired_diffs(results, setting, f)
            c = _paired(results, setting, _clean)
            if not diffs or c is None:
                continue
            boot = _boot(results, setting, mask)
            p = boot.p_value if boot is not None else paired_p_value(diffs)
            found.append((family, where, setting, estimate(diffs), boot, c, p))
    adjusted = holm([f[-1] for f in found])
    return [
        Comparison(family, where, setting, d, boot, c, adjusted[i])
        for i, (family, where, setting, d, boot, c, _) in enumerate(found)
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
    masking = [
        bool(c["passed"])
        for r in results
        if r.model_checks
        for c in r.model_checks["checks"]
        if c["name"] == "gradient-free does not beat gradient attacks"
    ]
    change_of = {(row[0], row[1]): row[2] for row in rows}
    answer = _answer(
        verdicts,
        best,
        said,
        header_key,
        strong=strongest(results, verdicts),
        single=one_step(results),
        cells=change_of,
        masking=masking,
    )
    if len({r.seed for r in results}) == 1 and answer.startswith("**Answer"):
        answer += (
            " (One training seed: the intervals cover the test sample's noise only, not the"
            " variation between trainings.)"
        )
    sentences.append(answer)
    # Compact: one row per attack at its eps, one column per setting; clean change last.
    compact_rows = []
    for family, (where, _, _) in verdicts.items():
        cells = {r[1]: r[2] for r in rows if r[0] == family}
        compact_rows.append([f"{family} {where}", *(cells.get(s, "-") for s in labels)])
    clean_cells = {r[1]: r[4] for r in rows}
    compact_rows.append(["clean accuracy", *(clean_cells.get(s, "-") for s in labels)])
    compact = (["change from the reference (pp)", *(said(s) for s in labels)], compact_rows)
    at = "at beta = " if header_key == "beta" else "for "
    for family, (where, rises, falls) in verdicts.items():
        if rises:
            summary = f"rises significantly {at}{', '.join(rises)}"
        else:
            anywhere = "at any beta" if header_key == "beta" else "for any method"
            summary = f"does not rise significantly {anywhere}"
        if falls:
            summary += f"; falls significantly {at}{', '.join(falls)}"
        sentences.append(f"**{family.upper()} {where}: robust accuracy {summary}.**")
    # The eps at which accuracy halves, per setting and eps-sweep attack.
    eps_labels = sorted(
        {k for r in results for k, v in r.attacks.items() if v is not None and v["sweep"] == "eps"}
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
                    h = halving_eps(xs, ys, rec["clean"]["accuracy"])
                    if h is not None:
                        vals.append(h)
            row.append(_est(vals) if vals else "not reached")
        h_rows.append(row)
    return sentences, compact, (header, rows), ([header_key, *eps_labels], h_rows)


WORST = "worst case of all attacks"


def _specs(results: list[ModelResult]) -> dict[str, AttackSpec]:
    specs: dict[str, AttackSpec] = {}
    for r in results:
        specs.update(attack_facts(r.completed_attacks()))
    return specs


def strongest(results: list[ModelResult], families: Iterable[str]) -> str | None:
    """The strongest standard attack among `families` (the worst case of all attacks above
    every single one), by the attacks' own `verdict_rank`; None: no standard attack ran."""
    ranks = {label: s.verdict_rank for label, s in _specs(results).items() if s.verdict_rank > 0}
    ranks[WORST] = max(ranks.values(), default=0) + 1
    return max((f for f in families if f in ranks), key=ranks.__getitem__, default=None)


def one_step(results: list[ModelResult]) -> str | None:
    """The label of the standard one-step attack that ran (FGSM), if any."""
    found = [label for label, s in _specs(results).items() if s.one_step and not s.paper_objective]
    return min(found, default=None)


def _answer(
    verdicts: dict[str, tuple[str, list[str], list[str]]],
    best: dict[str, tuple[float, str, str, str]],
    said: Callable[[str], str],
    header_key: str,
    *,
    strong: str | None,
    single: str | None,
    cells: dict[tuple[str, str], str] | None = None,
    masking: list[bool] | None = None,
) -> str:
    """A few sentences: the strongest standard attack's answer, its best change and clean
    cost, what FGSM shows and how much of it the strongest attack leaves, what the
    gradient-masking check says, and what the paper's own attacks show."""
    if strong is None:
        return "No standard attack ran: no answer about robustness."
    where, rises, falls = verdicts[strong]
    _, setting, change, clean = best[strong]
    what = "beta" if header_key == "beta" else "setting"
    if rises:
        first = (
            f"Under {strong.upper()} {where}, robust accuracy rises significantly "
            f"(after Holm's correction) for {', '.join(said(s) for s in rises)}."
        )
    else:
        first = (
            f"Under {strong.upper()} {where}, robust accuracy does not rise significantly for "
            f"any {what} (after Holm's correction over every comparison)."
        )
    parts = [
        "**Answer.** " + first,
        f"The largest change is {change} pp at {said(setting)}, where clean accuracy "
        f"changes by {clean} pp.",
    ]
    if falls:
        parts.append(f"It falls significantly for {', '.join(said(s) for s in falls)}.")
    if single is not None and single in verdicts and strong != single and cells is not None:
        f_where, f_rises, _ = verdicts[single]
        name = single.upper()
        pairs = [
            f"{said(s)} {cells.get((single, s), '-').rstrip(' *')} -> "
            f"{cells.get((strong, s), '-').rstrip(' *')}"
            for s in f_rises
        ]
        parts.append(
            f"{name} {f_where} rises significantly for {', '.join(said(s) for s in f_rises)}; "
            f"the change in pp under {name} -> under {strong.upper()}: {'; '.join(pairs)}."
            if f_rises
            else f"{name} {f_where} shows no significant rise either."
        )
    if masking:
        parts.append(
            "The gradient-masking check (the gradient-free Square attack does not beat the "
            f"gradient attacks) passes on {sum(masking)} of {len(masking)} models"
            + (
                ": no model hides its gradients from a query attack; where FGSM's gain "
                "shrinks under the iterated attacks, it is what one step misses, not robustness."
                if all(masking)
                else ": gradient masking is flagged where it fails (see the sanity checks)."
            )
        )
    paper = [f for f in verdicts if f.endswith("-paper")]
    if paper:
        risen = sorted({s for f in paper for s in verdicts[f][1]})
        parts.append(
            "The paper's own attacks ("
            + ", ".join(paper)
            + ") "
            + (
                f"show significant rises for {', '.join(said(s) for s in risen)}."
                if risen
                else "show no significant rise either."
            )
        )
    return " ".join(parts)


def certified_table(results: list[ModelResult]) -> Table | None:
    """Setting x eps: the certified lower bound and the attacks' upper bound on robust
    accuracy (means over seeds), and the images certified yet broken (must be 0)."""
    from lilbench.results.certificates import brackets

    with_cert = [r for r in results if r.certificate is not None]
    if not with_cert:
        return None
    per: dict[tuple[str, float], list[tuple[float, float, int]]] = {}
    for r in with_cert:
        assert r.certificate is not None
        for b in brackets(r.certificate, r.completed_attacks()):
            upper = b.upper / b.n if b.upper is not None else r.certificate["clean"]["accuracy"]
            per.setdefault((r.label, b.eps), []).append((b.certified / b.n, upper, b.violations))
    eps_list = sorted({e for _, e in per})
    header = [key_header(results), *(f"eps={e:g}" for e in eps_list), "certified but broken"]
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
