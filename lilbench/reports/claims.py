"""`lilbench claims`: the paper's claims, one row each, with the verdict the results give.

The claims are data (`suites/paper-claims.yaml`): each names its text, a short quotation and
where it stands in the paper, the suites whose results answer it, and the kind of evidence
(one function below, registered by name, with its parameters). Nothing here computes a model
or an attack: the rows are read from the runs directory, the way `lilbench report` reads it,
and a claim whose results are missing says "not run" with the command that runs it.

Verdicts, in words: "holds"; "holds only under the authors' attacks" (their attacks show the
rise, the strong protocol does not); "holds in part" (of a claim with two parts, one holds;
or of a claim several suites answer, it holds in some and not in others); "does not hold";
"not run here".
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lilbench.errors import ConfigError
from lilbench.io import sha256_file, write_bytes_atomic
from lilbench.registry import Registry
from lilbench.reports.aggregate import (
    Comparison,
    by_setting,
    comparisons,
    eps_name,
    key_header,
    strongest,
)
from lilbench.results.stats import estimate
from lilbench.results.suite_results import ModelResult, collect_suite
from lilbench.suites import Suite, load_suite, read_yaml
from lilbench.threats import ThreatModel, threat

HOLDS = "holds"
AUTHORS_ONLY = "holds only under the authors' attacks"
IN_PART = "holds in part"
FAILS = "does not hold"
NOT_RUN = "not run here"
_STRENGTH = {FAILS: 0, AUTHORS_ONLY: 1, IN_PART: 1, HOLDS: 2}


def combined_verdict(verdicts: list[str]) -> str:
    """A claim answered by several suites holds as far as the weakest of them; where it
    holds in one and not in another, it holds in part (the row says which, suite by suite):
    "does not hold" would hide the suite where it holds."""
    weakest = min(verdicts, key=_STRENGTH.__getitem__)
    if HOLDS in verdicts and weakest != HOLDS:
        return IN_PART
    return weakest


class ClaimEntry(BaseModel):
    """One claim of the paper, as the claims file states it."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    id: str = Field(pattern=r"^[a-z0-9-]+$")
    claim: str
    quote: str
    where: str
    suites: list[str] = Field(min_length=1)  # suite files, relative to the claims file's folder
    evidence: str
    params: dict[str, Any] = Field(default_factory=dict)
    not_run: str = ""  # why it cannot run here, said when its results are missing


class ClaimsFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    title: str
    claims: list[ClaimEntry] = Field(min_length=1)


@dataclass
class SuiteResults:
    suite: Suite
    command: str  # what runs it
    results: list[ModelResult]
    missing: list[str]
    runs_dir: Path
    shown: str  # the suite file as the commands name it

    @property
    def complete(self) -> bool:
        return not self.missing and bool(self.results)


@dataclass(frozen=True)
class Finding:
    """What one suite says about a claim."""

    authors: str  # the evidence under the authors' attacks ("" where none applies)
    strong: str  # under the strong protocol (or the measurement itself)
    certified: str  # the certified bracket, where there is one
    verdict: str  # HOLDS, AUTHORS_ONLY or FAILS
    why: str


Evidence = Callable[[SuiteResults, dict[str, Any]], Finding]
EVIDENCE: Registry[Evidence] = Registry("kind of evidence")


def load_claims(path: Path) -> ClaimsFile:
    if not Path(path).is_file():
        raise ConfigError(
            f"no claims file at {path}; give a YAML file like suites/paper-claims.yaml"
        )
    raw = read_yaml(Path(path))
    try:
        parsed = ClaimsFile.model_validate(raw)
    except ValidationError as exc:
        e = exc.errors()[0]
        key = ".".join(str(p) for p in e["loc"]) or "claims"
        raise ConfigError(f"{path}: {key}: {e['msg']}") from None
    ids = [c.id for c in parsed.claims]
    for c in parsed.claims:
        if ids.count(c.id) > 1:
            raise ConfigError(f"{path}: two claims are both {c.id!r}; keep one")
        if c.evidence not in EVIDENCE:
            raise ConfigError(f"{path}: claim {c.id}: {EVIDENCE.unknown(c.evidence)}")
        for s in c.suites:
            _confined(Path(path), c.id, s)
            if not (Path(path).parent / s).is_file():
                raise ConfigError(f"{path}: claim {c.id}: no suite file {s}")
    return parsed


def _confined(path: Path, claim: str, suite: str) -> None:
    """A claims file names suites beside it or below it, never elsewhere on the machine (a
    claims file from someone else must not make lilbench read arbitrary files)."""
    base = path.parent.resolve()
    target = (path.parent / suite).resolve()
    if Path(suite).is_absolute() or not target.is_relative_to(base):
        raise ConfigError(
            f"{path}: claim {claim}: suite {suite!r} lies outside the claims file's folder "
            f"{path.parent}; name a suite file in that folder or below it"
        )


def report_name(claims_path: Path) -> str:
    """The claims table's file name: the claims file's own stem (paper-claims.yaml ->
    paper-claims.md), so another claims file never overwrites the paper's table."""
    return f"{Path(claims_path).stem}.md"


def _suite_results(path: Path, runs_dir: Path, shown: str) -> SuiteResults:
    suite = load_suite(path)
    results, missing = collect_suite(suite, runs_dir=runs_dir)
    return SuiteResults(suite, f"lilbench run {shown}", results, missing, runs_dir, shown)


class NotComputed(Exception):
    """What a kind of evidence needs is not in the runs directory (the row says "not run")."""

    def __init__(self, what: str, command: str) -> None:
        super().__init__(what)
        self.what, self.command = what, command


# --- the kinds of evidence -------------------------------------------------------------------


def _is_lil(r: ModelResult) -> bool:
    """Trained with the LIL objective, nothing else (a suite's other defences are not the
    paper's claim)."""
    c = r.checkpoint.config if r.checkpoint is not None else None
    return c is not None and c.method_name == "lil"


def _lil_settings(res: SuiteResults) -> list[tuple[str, list[ModelResult]]]:
    return [
        (label, g)
        for label, g in by_setting(res.results)
        if not g[0].setting.reference and all(_is_lil(r) for r in g)
    ]


def _reference(res: SuiteResults) -> list[ModelResult]:
    return [r for r in res.results if r.setting.reference]


def _metric(group: list[ModelResult], key: str) -> list[float]:
    return [float(r.checkpoint.metrics[key]) for r in group if r.checkpoint is not None]


@EVIDENCE.register("isometry")
def isometry(res: SuiteResults, params: dict[str, Any]) -> Finding:
    """Within-class isometry error (mean |D_phi - D_x| / mean D_x, test split): the claim holds
    where LIL lowers it below plain cross-entropy's and some setting reaches `below`."""
    below = float(params.get("below", 0.1))
    ref = _metric(_reference(res), "test_isometry_error")
    if not ref:
        raise ConfigError(f"{res.suite.name}: no beta = 0 models to compare the isometry with")
    base = sum(ref) / len(ref)
    parts, best, all_lower = [f"beta 0: {base:.3f}"], math.inf, True
    for label, group in _lil_settings(res):
        vals = _metric(group, "test_isometry_error")
        mean = sum(vals) / len(vals)
        best = min(best, mean)
        all_lower &= mean < base
        parts.append(f"{_name(res, label)}: {mean:.3f}")
    ok = all_lower and best <= below
    why = (
        f"isometry error {base:.3f} under plain cross-entropy, {best:.3f} at best with LIL "
        f"(criterion: lower at every beta, and <= {below:g} somewhere)"
    )
    measured = "isometry error (test): " + "; ".join(parts)
    return Finding("", measured, "", HOLDS if ok else FAILS, why)


@EVIDENCE.register("clean-cost")
def clean_cost(res: SuiteResults, params: dict[str, Any]) -> Finding:
    """Clean accuracy change from plain cross-entropy per setting (paired by seed, t): holds
    when every setting up to beta `up_to` loses at most `at_most_pp` points."""
    up_to = float(params.get("up_to", 1.0))
    at_most = float(params.get("at_most_pp", 1.0)) / 100
    base = {r.seed: _metric([r], "clean_test_accuracy")[0] for r in _reference(res) if r.checkpoint}
    parts, worst_in_range = [], 0.0
    for label, group in _lil_settings(res):
        diffs = [
            float(r.checkpoint.metrics["clean_test_accuracy"]) - base[r.seed]
            for r in group
            if r.checkpoint is not None and r.seed in base
        ]
        e = estimate(diffs)
        parts.append(f"{_name(res, label)}: {e.fmt(1, 100)} pp")
        if group[0].setting.beta <= up_to:
            worst_in_range = min(worst_in_range, e.mean)
    ok = worst_in_range >= -at_most
    why = (
        f"largest mean loss up to beta {up_to:g}: {-100 * worst_in_range:.1f} pp "
        f"(criterion: <= {100 * at_most:g} pp)"
    )
    return Finding("", "clean change: " + "; ".join(parts), "", HOLDS if ok else FAILS, why)


def _best(found: list[Comparison], family: str) -> Comparison | None:
    mine = [c for c in found if c.family == family]
    return max(mine, key=lambda c: c.change) if mine else None


def _name(res: SuiteResults, label: str) -> str:
    """A setting as a row names it: "beta 10" in a beta sweep, else the method's label."""
    return f"beta {label}" if key_header(res.results) == "beta" else label


def _said(res: SuiteResults, c: Comparison | None, family: str) -> str:
    if c is None:
        return f"{family}: not in this suite"
    text = c.boot.fmt(1, 100) if c.boot is not None else f"{c.seeds.fmt(1, 100)} (t)"
    sig = "significant" if c.significant else "not significant"
    return f"{family} {c.where}: largest change {_name(res, c.setting)}, {text} pp, {sig}"


def _with_clean(res: SuiteResults, c: Comparison) -> str:
    """A setting with its clean-accuracy change: a rise bought with clean accuracy says so."""
    return f"{_name(res, c.setting)} (clean accuracy {c.clean.fmt(1, 100)} pp)"


def _lil_only(res: SuiteResults, found: list[Comparison]) -> list[Comparison]:
    lil = {label for label, _ in _lil_settings(res)}
    return [c for c in found if c.setting in lil]


def _certified(res: SuiteResults, setting: str, norm: str = "inf") -> str:
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
        f"{_name(res, label)}: [{b[1]:.3f}, {b[2]:.3f}]" for label, b in pairs if b is not None
    ]
    if not shown:
        return ""
    eps = next(b[0] for _, b in pairs if b is not None)
    return f"{eps_name(norm)} {eps:g}: " + "; ".join(shown)


@EVIDENCE.register("robustness")
def robustness(res: SuiteResults, params: dict[str, Any]) -> Finding:
    """Robust accuracy vs plain cross-entropy, as the suite's report tests it (hierarchical
    bootstrap, Holm over every comparison of the suite): under the authors' attacks
    (`authors`, a list of attack labels) and under the strong protocol (the worst case of all
    attacks at eps 0.1, else the strongest attack run). With `norm: "2"`: the same in L2 (the
    worst case of all L2 attacks at L2 eps 1, L2 certificates); the authors' attacks are
    L-inf, so their column says it does not apply."""
    t = threat(params.get("norm", "inf"))
    if not t.is_default:
        return _robustness_in(res, t)
    authors = list(params.get("authors", []))
    found = _lil_only(res, comparisons(res.results))
    families = {c.family for c in found}
    strong_family = strongest(res.results, families)
    theirs = [(f, _best(found, f)) for f in authors]
    rises_theirs = any(c is not None and c.significant and c.change > 0 for _, c in theirs)
    strong = _best(found, strong_family) if strong_family is not None else None
    rises_strong = [
        c for c in found if c.family == strong_family and c.significant and c.change > 0
    ]
    if rises_strong:
        verdict = HOLDS
        which = ", ".join(_with_clean(res, c) for c in rises_strong)
        why = f"the strong protocol shows a significant rise for {which}"
    elif rises_theirs:
        verdict = AUTHORS_ONLY
        why = "the authors' attacks show a significant rise; the strong protocol shows none"
    else:
        verdict = FAILS
        why = "no significant rise under either the authors' attacks or the strong protocol"
    certified = _certified(res, strong.setting) if strong is not None else ""
    falls = [
        _name(res, c.setting)
        for c in found
        if c.family == strong_family and c.significant and c.change < 0
    ]
    strong_text = _said(res, strong, strong_family or "no standard attack")
    if falls:
        strong_text += f"; falls significantly for {', '.join(falls)}"
    return Finding(
        "; ".join(_said(res, c, f) for f, c in theirs),
        strong_text,
        certified,
        verdict,
        why + " (Holm over every comparison of the suite's report)",
    )


def _robustness_in(res: SuiteResults, t: ThreatModel) -> Finding:
    """The robustness row in a norm other than L-inf (its own worst case and certificates)."""
    found = _lil_only(res, comparisons(res.results))
    strong_family = strongest(res.results, {c.family for c in found}, t.key)
    if strong_family is None:
        raise NotComputed(f"{t.label} attack entries (norm: {t.key})", f"lilbench run {res.shown}")
    strong = _best(found, strong_family)
    ours = [c for c in found if c.family == strong_family and c.significant]
    rises = [_with_clean(res, c) for c in ours if c.change > 0]
    falls = [_name(res, c.setting) for c in ours if c.change < 0]
    strong_text = _said(res, strong, strong_family)
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
        _certified(res, strong.setting, t.key) if strong is not None else "",
        verdict,
        why + " (Holm over every comparison of the suite's report)",
    )


@EVIDENCE.register("mechanism")
def mechanism(res: SuiteResults, params: dict[str, Any]) -> Finding:
    """The paper's mechanism: LIL bounds the input gradients. Spearman's rho of the mean
    input-gradient norm (and the other quantities of the report's mechanism section) with
    beta over every LIL and plain cross-entropy model, Holm over the quantities: holds when
    the input-gradient norm falls significantly as beta rises. Read from the records the
    suite's report cached (`mechanism: true`); not run when they are missing."""
    from lilbench.reports.mechanism import QUANTITIES, mechanism_values, trends

    if not res.suite.mechanism:
        raise ConfigError(f"{res.suite.name}: the mechanism needs `mechanism: true` in the suite")
    group = [r for r in res.results if r.checkpoint is not None and (_is_lil(r))]
    measured = []
    for r in group:
        m = mechanism_values(r, None, res.runs_dir, compute=False)
        if m is None:
            raise NotComputed(
                "the mechanism's records", f"lilbench report {res.shown} --runs-dir RUNS"
            )
        measured.append((r, m))
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


@EVIDENCE.register("general-perturbations")
def general_perturbations(res: SuiteResults, params: dict[str, Any]) -> Finding:
    """Accuracy under random noise and MNIST-C's corruptions vs plain cross-entropy, as the
    report's section tests it (hierarchical bootstrap, Holm over the section's comparisons):
    holds when some LIL setting rises significantly under both some Gaussian noise and the
    mean over the corruptions, in part when under one of them."""
    from lilbench.reports.noise import Change, changes

    if not res.suite.perturbs:
        raise ConfigError(f"{res.suite.name}: needs `noise:` and `corruptions:` in the suite")
    lil = {label for label, _ in _lil_settings(res)}
    found = [c for c in changes(res.results) if c.setting in lil]
    noise = [c for c in found if c.perturbation.startswith("Gaussian")]
    corr = [c for c in found if c.perturbation == "mean over corruptions"]

    def best(cs: list[Change]) -> str:
        if not cs:
            return "not run"
        c = max(cs, key=lambda c: c.boot.value)
        sig = "significant" if c.significant else "not significant"
        change = c.boot.fmt(1, 100)
        return f"{c.perturbation}: largest change {_name(res, c.setting)}, {change} pp, {sig}"

    by_sigma: dict[str, list[Change]] = {}
    for c in noise:
        by_sigma.setdefault(c.perturbation, []).append(c)
    measured = [best(cs) for cs in by_sigma.values()] + [best(corr)]
    rise_noise = sorted(
        {
            f"{_name(res, c.setting)} ({c.perturbation})"
            for c in noise
            if c.significant and c.boot.value > 0
        }
    )
    rise_corr = [_name(res, c.setting) for c in corr if c.significant and c.boot.value > 0]
    if rise_noise and rise_corr:
        verdict = HOLDS
    elif rise_noise or rise_corr:
        verdict = IN_PART
    else:
        verdict = FAILS
    why = (
        "significant rises under Gaussian noise: "
        + (", ".join(rise_noise) or "none")
        + "; under the corruptions (mean of 15): "
        + (", ".join(rise_corr) or "none")
        + " (Holm over the report section's comparisons)"
    )
    # the suite's other defences beside LIL: is adversarial training's robustness "specific"?
    others = [
        c
        for c in changes(res.results)
        if c.setting not in lil
        and c.perturbation in ("Gaussian sigma 0.3", "mean over corruptions")
    ]
    if others:
        measured.append(
            "beside LIL: " + ", ".join(f"{c.setting} {c.perturbation} {c.fmt()} pp" for c in others)
        )
    return Finding("", "; ".join(measured), "", verdict, why)


def _panel(
    res: SuiteResults, group: list[ModelResult]
) -> list[tuple[ModelResult, dict[str, float]]]:
    """The geometry panel of each model, read from the records its report cached."""
    from lilbench.reports.geometry_panel import geometry_values

    if not res.suite.geometry:
        raise ConfigError(f"{res.suite.name}: the geometry panel needs `geometry: true`")
    out = []
    for r in group:
        m = geometry_values(r, None, res.runs_dir, compute=False)
        if m is None:
            raise NotComputed(
                "the geometry panel's records", f"lilbench report {res.shown} --runs-dir RUNS"
            )
        out.append((r, m))
    return out


@EVIDENCE.register("collapse")
def collapse(res: SuiteResults, params: dict[str, Any]) -> Finding:
    """Within-class collapse (NC1, Papyan et al. 2020) under LIL against plain cross-entropy:
    holds when every LIL setting's mean NC1 is above cross-entropy's and NC1 rises with beta
    (Spearman over the LIL and cross-entropy models, p < 0.05)."""
    from scipy import stats

    group = [r for r in res.results if r.checkpoint is not None and _is_lil(r)]
    found = _panel(res, group)
    ref = [m["nc1"] for r, m in found if r.setting.reference]
    if not ref:
        raise ConfigError(f"{res.suite.name}: no beta = 0 models to compare NC1 with")
    base = float(np.mean(ref))
    parts, higher = [f"beta 0: {base:.3f}"], True
    for label, _ in _lil_settings(res):
        mean = float(np.mean([m["nc1"] for r, m in found if r.label == label]))
        higher &= mean > base
        parts.append(f"{_name(res, label)}: {mean:.3f}")
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


@EVIDENCE.register("activation-structure")
def activation_structure(res: SuiteResults, params: dict[str, Any]) -> Finding:
    """Related work (Alleman, Lindsey & Fusi 2024): at beta 0, ReLU's phi keeps more of the
    input's structure than tanh's. Holds when ReLU has the lower isometry error and the higher
    input-phi CKA in every seed; in part when one of the two."""
    from lilbench.reports.activation import activation_of, is_plain

    plain = [
        r
        for r in res.results
        if r.checkpoint is not None and is_plain(r) and activation_of(r) in ("tanh", "relu")
    ]
    found = dict(((activation_of(r), r.seed), m) for r, m in _panel(res, plain))
    iso = {(activation_of(r), r.seed): _metric([r], "test_isometry_error")[0] for r in plain}
    seeds = sorted({s for a, s in found if a == "relu" and ("tanh", s) in found})
    if not seeds:
        raise ConfigError(f"{res.suite.name}: needs tanh and relu models at beta 0")
    lower_iso = all(iso[("relu", s)] < iso[("tanh", s)] for s in seeds)
    higher_cka = all(
        found[("relu", s)]["cka_input_phi"] > found[("tanh", s)]["cka_input_phi"] for s in seeds
    )

    def mean(d: dict[tuple[str, int], Any], act: str, key: str | None = None) -> float:
        return float(np.mean([d[(act, s)] if key is None else d[(act, s)][key] for s in seeds]))

    measured = (
        f"at beta 0, tanh vs ReLU ({len(seeds)} seeds): isometry error "
        f"{mean(iso, 'tanh'):.3f} vs {mean(iso, 'relu'):.3f}; CKA input-phi "
        f"{mean(found, 'tanh', 'cka_input_phi'):.3f} vs {mean(found, 'relu', 'cka_input_phi'):.3f}"
    )
    verdict = HOLDS if lower_iso and higher_cka else IN_PART if lower_iso or higher_cka else FAILS
    why = (
        f"ReLU's isometry error lower in every seed: {'yes' if lower_iso else 'no'}; its "
        f"input-phi CKA higher in every seed: {'yes' if higher_cka else 'no'}"
    )
    return Finding("", measured, "", verdict, why)


@EVIDENCE.register("hierarchy")
def hierarchy(res: SuiteResults, params: dict[str, Any]) -> Finding:
    """Stacked LILs: every label level classified with accuracy >= `min_accuracy` (the
    paper's "> 0.99") and its block's within-level isometry error."""
    floor = float(params.get("min_accuracy", 0.99))
    parts, lowest = [], 1.0
    for label, group in by_setting(res.results):
        metrics = [r.checkpoint.metrics for r in group if r.checkpoint is not None]
        accs = np.mean([m["level_accuracy"] for m in metrics], axis=0)
        isos = np.mean([m["level_isometry_error"] for m in metrics], axis=0)
        lowest = min(lowest, float(accs.min()))
        levels = ", ".join(
            f"level {i}: {a:.3f} (isometry error {e:.3f})"
            for i, (a, e) in enumerate(zip(accs, isos, strict=True))
        )
        parts.append(f"{_name(res, label)}: {levels}")
    ok = lowest >= floor
    why = f"lowest level accuracy {lowest:.3f} (criterion: >= {floor:g})"
    return Finding("", "; ".join(parts), "", HOLDS if ok else FAILS, why)


@EVIDENCE.register("topology")
def topology_kept(res: SuiteResults, params: dict[str, Any]) -> Finding:
    """Persistent homology per class (the report's topology records): holds when every LIL
    model keeps, in phi, the `loops` persistent H1 features each class's inputs have, in every
    class and seed, and (where the suite has plain cross-entropy beside it) its bottleneck
    distance to the input's diagram is smaller than cross-entropy's."""
    from lilbench.results import topology_records

    loops = int(params.get("loops", 1))
    found: dict[str, list[dict[str, Any]]] = {}
    data_of = topology_records.datasets_of([r.checkpoint for r in res.results if r.checkpoint])
    for r in res.results:
        assert r.checkpoint is not None
        data = data_of[(r.checkpoint.config.dataset, r.checkpoint.config.seed)]
        rec = topology_records.ensure_topology(
            res.runs_dir, r.checkpoint, data, seed=r.seed, compute_missing=False
        )
        if rec is None:
            raise NotComputed(
                "its topology records", f"lilbench report {res.shown} --runs-dir RUNS"
            )
        found.setdefault(r.label, []).extend(rec.classes)
    parts, kept_all, lil_b, ref_b = [], True, [], []
    inputs_ok = all(c["betti_input"][1] == loops for cs in found.values() for c in cs)
    for label, group in by_setting(res.results):
        cs = found[label]
        kept = sum(c["betti_phi"][1] == loops for c in cs)
        b = [c["bottleneck_h1"] for c in cs]
        h_in = float(np.mean([c["h1_input"] for c in cs]))
        h_phi = float(np.mean([c["h1_phi"] for c in cs]))
        parts.append(
            f"{_name(res, label)}: loop kept in {kept}/{len(cs)} class-seeds, H1 lifetime "
            f"{h_in:.2f} -> {h_phi:.2f}, bottleneck {estimate(b).fmt(3)}"
        )
        if group[0].setting.reference:
            ref_b += b
        elif all(_is_lil(r) for r in group):
            lil_b += b
            kept_all &= kept == len(cs)
    contrast = not ref_b or (bool(lil_b) and np.mean(lil_b) < np.mean(ref_b))
    ok = inputs_ok and kept_all and bool(lil_b) and contrast
    why = (
        f"every input class has {loops} persistent loop(s): {'yes' if inputs_ok else 'no'}; "
        f"LIL keeps them in every class and seed: {'yes' if kept_all else 'no'}"
        + (
            f"; bottleneck distance LIL {np.mean(lil_b):.3f} vs cross-entropy {np.mean(ref_b):.3f}"
            if ref_b and lil_b
            else ""
        )
    )
    return Finding("", "; ".join(parts), "", HOLDS if ok else FAILS, why)


# --- the table -------------------------------------------------------------------------------


def _settings(res: SuiteResults) -> str:
    s = res.suite
    labels = ", ".join(x.label for x in s.settings)
    if not s.has_methods:
        labels = "beta " + labels
    # Reports sit beside this table: the suite's name links its report.
    return (
        f"[{s.name}]({s.name}.md): {s.dataset}, {labels}; {len(s.seeds)} seed(s); "
        f"{s.test_limit or 'all'} test images"
    )


def _row(entry: ClaimEntry, inputs: list[SuiteResults]) -> list[str]:
    ran = [r for r in inputs if r.complete]
    lost = [r for r in inputs if not r.complete]
    findings, uncomputed = [], []
    for r in ran:
        try:
            findings.append((r, EVIDENCE.get(entry.evidence)(r, entry.params)))
        except NotComputed as exc:
            uncomputed.append(f"`{r.suite.name}` lacks {exc.what}: run `{exc.command}`")

    def joined(attr: str) -> str:
        cells = [
            (f"{r.suite.name}: " if len(findings) > 1 else "") + getattr(f, attr)
            for r, f in findings
            if getattr(f, attr)
        ]
        return "<br>".join(cells) or "-"

    notes = []
    for r in lost:
        reason = f"{entry.not_run} " if entry.not_run else ""
        notes.append(
            f"`{r.suite.name}` not run ({len(r.missing)} result(s) missing): {reason}"
            f"run `{r.command}`"
        )
    notes += uncomputed
    if findings:
        combined = combined_verdict([f.verdict for _, f in findings])
        why = "; ".join(
            (f"{r.suite.name}: " if len(findings) > 1 else "") + f.why for r, f in findings
        )
        verdict = f"**{combined}**: {why}"
        if notes:
            verdict += " (" + "; ".join(notes) + ")"
    else:
        verdict = f"**{NOT_RUN}**: " + "; ".join(notes)
    claim = f"**{entry.claim}** ({entry.where}): \u201c{entry.quote}\u201d"
    return [
        claim,
        joined("authors"),
        joined("strong"),
        joined("certified"),
        "<br>".join(_settings(r) for r in inputs),
        verdict,
    ]


HEADER = [
    "claim (where in the paper)",
    "under the authors' attacks",
    "under the strong protocol / measured",
    "certified bracket [proven, not broken]",
    "settings measured in",
    "verdict",
]


def build_claims(
    claims_path: Path, *, runs_dir: Path, out_dir: Path, shown_as: str | None = None
) -> tuple[Path, list[list[str]]]:
    """Write <out_dir>/<claims file's stem>.md from the results in `runs_dir`; returns its
    rows."""
    claims_path = Path(claims_path)
    spec = load_claims(claims_path)
    base = claims_path.parent
    shown_base = Path(shown_as).parent if shown_as else base
    cache: dict[str, SuiteResults] = {}
    rows = []
    for entry in spec.claims:
        inputs = []
        for s in entry.suites:
            if s not in cache:
                cache[s] = _suite_results(base / s, runs_dir, str(shown_base / s))
            inputs.append(cache[s])
        rows.append(_row(entry, inputs))
    shown = shown_as or str(claims_path)
    lines = [
        f"# {spec.title}",
        "",
        f"Generated by `lilbench claims {shown}` from the results in the runs directory (no "
        f"number typed by hand); claims file SHA-256 `{sha256_file(claims_path)[:16]}`. Each "
        "row's evidence is the suite's own report's: robust changes from plain cross-entropy "
        "(beta 0) in percentage points with the 95% interval of the paired hierarchical "
        "bootstrap over seeds and test images; * marks a change significant after Holm's "
        "correction over every comparison of that suite's report. The strong protocol is the "
        "per-image worst case of all attacks at eps 0.1 where the suite ran several, else its "
        "strongest attack. Certified brackets: the share of test images proven robust and the "
        "share no attack broke, at the largest certified eps (means over seeds).",
        "",
        "| " + " | ".join(HEADER) + " |",
        "|" + "---|" * len(HEADER),
        *["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows],
        "",
    ]
    path = Path(out_dir) / report_name(claims_path)
    write_bytes_atomic(path, "\n".join(lines).encode())
    return path, rows


def verdict_words(row: list[str]) -> str:
    """The verdict of a row, without its reasons ("holds", "not run here", ...)."""
    cell = row[-1]
    return cell[2 : cell.index("**", 2)]
