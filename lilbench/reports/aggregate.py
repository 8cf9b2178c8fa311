"""Tables over seeds: means with 95% intervals per beta, worst cases, checks and the verdict."""

from __future__ import annotations

import math
from collections.abc import Callable

from lilbench.reports.summary import curve, normalised_auc
from lilbench.results.stats import Estimate, estimate, halving_eps, holm, paired_p_value
from lilbench.results.suite_results import ModelResult, setting_name

Table = tuple[list[str], list[list[str]]]
VERDICT_EPS = 0.1  # where eps sweeps are compared (a common MNIST L-inf budget)
ALPHA = 0.05  # family-wise error rate of the verdict's significance marks


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


def clean_table(results: list[ModelResult]) -> Table:
    levels = max(
        (len(r.checkpoint.metrics.get("level_accuracy", [])) for r in results if r.checkpoint),
        default=0,
    )
    header = [key_header(results), "seeds", "clean test accuracy", "isometry error (test)"]
    for i in range(levels):
        header += [f"level {i} accuracy", f"level {i} isometry error"]
    rows = []
    for label, group in by_setting(results):
        metrics = [r.checkpoint.metrics for r in group if r.checkpoint]
        row = [
            label,
            str(len(metrics)),
            _est([m["clean_test_accuracy"] for m in metrics]),
            _est([m["test_isometry_error"] for m in metrics]),
        ]
        for i in range(levels):
            row += [
                _est([m["level_accuracy"][i] for m in metrics if "level_accuracy" in m]),
                _est(
                    [m["level_isometry_error"][i] for m in metrics if "level_isometry_error" in m]
                ),
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
        rows.append(
            [
                setting,
                str(len(got)),
                _est([rec["clean"]["accuracy"] for rec in got]),
                *[_est([c[1][i] for c in curves]) for i in range(len(xs))],
                _est([normalised_auc(*c) for c in curves]),
            ]
        )
    return header, rows


def _worst(r: ModelResult) -> dict[float, float]:
    wc = (r.model_checks or {}).get("worst_case", {})
    return {float(e): v["correct"] / v["n"] for e, v in wc.items() if len(v["attacks"]) > 1}


def worst_case_table(results: list[ModelResult]) -> Table | None:
    grids = [set(_worst(r)) for r in results if r.model_checks]
    if not grids:
        return None
    eps = sorted(set.intersection(*grids))
    header = [key_header(results), "seeds", *[f"eps={e:.3g}" for e in eps]]
    rows = [
        [
            setting,
            str(len(group)),
            *[_est([_worst(r)[e] for r in group if e in _worst(r)]) for e in eps],
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


def _families(results: list[ModelResult]) -> list[tuple[str, str, Scalar]]:
    labels = sorted({k for r in results for k, v in r.attacks.items() if v is not None})
    fams: list[tuple[str, str, Scalar]] = []
    for label in labels:
        rec = next(r.attacks[label] for r in results if r.attacks.get(label))
        assert rec is not None
        if rec["sweep"] == "eps":
            # The grid point nearest to VERDICT_EPS in log scale (the paper's grid has no 0.1).
            eps = min(
                (p["eps"] for p in rec["points"] if p["eps"] > 0),
                key=lambda e: abs(math.log10(e) - math.log10(VERDICT_EPS)),
            )
            fams.append((label, f"at eps = {eps:.3g}", _at_eps(label, eps)))
        else:
            eps = rec["points"][0]["eps"]
            fams.append(
                (label, f"in the {eps:g} ball at its strongest step size", _strongest_step(label))
            )
    if any(_worst(r) for r in results):
        fams.append(
            (
                "worst case of all attacks",
                f"at eps = {VERDICT_EPS:g}",
                lambda r: _worst(r).get(VERDICT_EPS),
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


def verdict(results: list[ModelResult]) -> tuple[list[str], Table, Table]:
    """Plain sentences, a table of changes vs the reference (beta = 0, plain CE), and the eps
    that halves accuracy.

    With several seeds, each change is tested (paired t-test over seeds, two-sided) and the
    family-wise error over every comparison in the table is held at 5% by Holm's procedure:
    only what survives the correction is called significant.
    """
    header_key = key_header(results)
    # The `betas:` shorthand names a setting "beta = 1"; a methods suite by its label.
    said = (lambda s: f"beta = {s}") if header_key == "beta" else (lambda s: s)
    labels = [label for label, group in by_setting(results) if not group[0].setting.reference]
    if not any(r.setting.reference for r in results):
        return ["No beta = 0 models: nothing to compare with."], ([], []), ([], [])
    n_seeds = len({r.seed for r in results})
    sentences: list[str] = []
    header = [
        "attack",
        header_key,
        "change in robust accuracy (pp)",
        "change in clean accuracy (pp)",
    ]
    found = [
        (family, where, setting, diffs, _paired(results, setting, _clean))
        for family, where, f in _families(results)
        for setting in labels
        if (diffs := _paired_diffs(results, setting, f))
    ]
    tested = n_seeds > 1
    adjusted = holm([paired_p_value(d) for _, _, _, d, _ in found]) if tested else []
    if tested:
        header.append(f"p (paired t, Holm over {len(found)})")
    rows = []
    verdicts: dict[str, tuple[str, list[str], list[str]]] = {}
    for i, (family, where, setting, diffs, c) in enumerate(found):
        d = estimate(diffs)
        if c is None:
            continue
        row = [family, setting, d.fmt(1, 100), c.fmt(1, 100)]
        if tested:
            row.append(f"{adjusted[i]:.3g}" + (" *" if adjusted[i] < ALPHA else ""))
        rows.append(row)
        interval = f" (95% CI {100 * d.low:+.1f}..{100 * d.high:+.1f})" if d.n > 1 else ""
        sentences.append(
            f"Under {family.upper()} {where}, {said(setting)} changes robust accuracy by "
            f"{100 * d.mean:+.1f} pp{interval} at a cost of {-100 * c.mean:.1f} pp clean "
            f"accuracy (n = {d.n} seed{'s' if d.n != 1 else ''})."
        )
        _, rises, falls = verdicts.setdefault(family, (where, [], []))
        if tested and adjusted[i] < ALPHA:
            (rises if d.mean > 0 else falls).append(setting)
    if tested:
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
    return sentences, (header, rows), ([header_key, *eps_labels], h_rows)


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
