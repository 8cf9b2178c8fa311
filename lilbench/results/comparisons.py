"""The verdict's statistics, as numbers: each setting's change from plain cross-entropy per
attack family (paired by seed, hierarchical bootstrap over seeds and test images, Holm over
every comparison), the per-example worst case over attacks, and which attack is strongest.
Tables and sentences are written from these in `lilbench.reports`."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from lilbench.attacks.base import AttackSpec, attack_facts, spec_from_params
from lilbench.attacks.checks import unpack_mask
from lilbench.results.stats import (
    Bootstrap,
    Estimate,
    estimate,
    hierarchical_bootstrap,
    holm,
    paired_holm,
    paired_p_value,
    resolve_floor,
)
from lilbench.results.suite_results import ModelResult
from lilbench.schemas import AttackRecord, Point
from lilbench.threats import THREATS, ThreatModel, threat

# where eps sweeps are compared, per threat model (`ThreatModel.verdict_eps`): L-inf 0.1 (a
# common MNIST budget), other norms a radius of their own
VERDICT_EPS = threat("inf").verdict_eps


ALPHA = 0.05  # family-wise error rate of the verdict's significance marks


BOOTSTRAP_RESAMPLES = 2000


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


def worst_case_masks(
    r: ModelResult, norm: str = "inf"
) -> dict[float, tuple[np.ndarray, list[str]]]:
    """Per column eps: which test images every attack of the norm left correct at that eps
    *or below* (an example inside a smaller ball is inside this one, so the worst case is
    monotone in eps), and the attacks counted. Columns: the eps at which two or more attacks
    ran, not counting the paper-faithful variants (weaker copies of FGSM and PGD), so that
    no column rests on FGSM alone. Only for suites with model checks (the sanity-checked
    ones). Each norm has its own worst case: an L2 eps is another ball."""
    if not r.model_checks:
        return {}
    points: list[tuple[float, str, np.ndarray]] = []
    done = r.completed_attacks()
    facts = attack_facts(done)
    for label, rec in done.items():
        if rec.sweep != "eps" or facts[label].norm != norm:
            continue
        for p in rec.points:
            if p.eps > 0 and (m := point_bits(rec, p)) is not None:
                points.append((round(float(p.eps), 9), label, m))
    counted: dict[float, set[str]] = {}
    for e, label, _ in points:
        if not facts[label].paper_objective:
            counted.setdefault(e, set()).add(label)
    out = {}
    for e in sorted(e for e, labels in counted.items() if len(labels) > 1):
        below = [(label, m) for e2, label, m in points if e2 <= e]
        joint = np.logical_and.reduce([m for _, m in below])
        out[e] = (joint, sorted({label for label, _ in below}))
    return out


def worst(r: ModelResult, norm: str = "inf") -> dict[float, float]:
    return {e: float(m.mean()) for e, (m, _) in worst_case_masks(r, norm).items()}


def worst_eps(results: list[ModelResult], norm: str = "inf") -> list[float]:
    grids = [set(worst(r, norm)) for r in results if r.model_checks]
    return sorted(set.intersection(*grids)) if grids else []


def worst_case_attacks(results: list[ModelResult], norm: str = "inf") -> dict[float, list[str]]:
    """eps -> the attacks the worst-case column counts (every model's, merged), so a reader
    sees which columns rest on a strong attack and which on FGSM and PGD alone."""
    out: dict[float, set[str]] = {e: set() for e in worst_eps(results, norm)}
    for r in results:
        for e, (_, labels) in worst_case_masks(r, norm).items():
            if e in out:
                out[e].update(labels)
    return {e: sorted(a) for e, a in out.items()}


Scalar = Callable[[ModelResult], float | None]


def _at_eps(label: str, eps: float) -> Scalar:
    def get(r: ModelResult) -> float | None:
        rec = r.attacks.get(label)
        if rec is None:
            return None
        for p in rec.points:
            if abs(p.eps - eps) < 1e-9:
                return float(p.accuracy)
        return None

    return get


def _strongest_step(label: str) -> Scalar:
    def get(r: ModelResult) -> float | None:
        rec = r.attacks.get(label)
        return None if rec is None else min(float(p.accuracy) for p in rec.points)

    return get


Mask = Callable[[ModelResult], "np.ndarray | None"]


def point_bits(rec: AttackRecord, point: Point) -> np.ndarray | None:
    bits = point.correct_bits
    return None if not bits else unpack_mask(bits, rec.samples.n)


def _mask_at_eps(label: str, eps: float) -> Mask:
    def get(r: ModelResult) -> np.ndarray | None:
        rec = r.attacks.get(label)
        if rec is None:
            return None
        for p in rec.points:
            if abs(p.eps - eps) < 1e-9:
                return point_bits(rec, p)
        return None

    return get


def _mask_strongest_step(label: str) -> Mask:
    def get(r: ModelResult) -> np.ndarray | None:
        rec = r.attacks.get(label)
        if rec is None:
            return None
        return point_bits(rec, min(rec.points, key=lambda p: p.accuracy))

    return get


def _mask_worst(eps: float, norm: str = "inf") -> Mask:
    """Correct under every attack of the norm run at `eps` or below (`worst_case_masks`)."""

    def get(r: ModelResult) -> np.ndarray | None:
        found = worst_case_masks(r, norm).get(round(eps, 9))
        return None if found is None else found[0]

    return get


def _boot(
    results: list[ModelResult], label: str, mask: Mask, resamples: int = BOOTSTRAP_RESAMPLES
) -> Bootstrap | None:
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
    return hierarchical_bootstrap(a, ref, resamples=resamples, seed=0)


def _clean(r: ModelResult) -> float | None:
    return None if r.checkpoint is None else float(r.checkpoint.metrics["clean_test_accuracy"])


def _families(results: list[ModelResult]) -> list[tuple[str, str, Scalar, Mask]]:
    labels = sorted({k for r in results for k, v in r.attacks.items() if v is not None})
    fams: list[tuple[str, str, Scalar, Mask]] = []
    for label in labels:
        rec = next(r.attacks[label] for r in results if r.attacks.get(label))
        assert rec is not None
        if rec.sweep == "eps":
            # The grid point nearest to the norm's verdict eps in log scale (the paper's grid
            # has no 0.1).
            norm = spec_from_params(rec.params).norm
            target = threat(norm).verdict_eps
            eps = min(
                (p.eps for p in rec.points if p.eps > 0),
                key=lambda e: abs(math.log10(e) - math.log10(target)),
            )
            where = f"at {eps_words(norm)} = {eps:.3g}"
            fams.append((label, where, _at_eps(label, eps), _mask_at_eps(label, eps)))
        else:
            eps = rec.points[0].eps
            where = f"in the {eps:g} ball at its strongest step size"
            fams.append((label, where, _strongest_step(label), _mask_strongest_step(label)))
    if any(worst(r) for r in results):
        fams.append(
            (
                WORST,
                f"at eps = {VERDICT_EPS:g}",
                lambda r: worst(r).get(VERDICT_EPS),
                _mask_worst(VERDICT_EPS),
            )
        )
    for t in other_threats():
        if grid := worst_eps(results, t.key):
            # the norm's worst-case column nearest to its verdict radius (log scale)
            e = min(grid, key=lambda e: abs(math.log10(e) - math.log10(t.verdict_eps)))
            fams.append(
                (
                    worst_name(t.key),
                    f"at {eps_words(t.key)} = {e:.3g}",
                    lambda r, e=e, k=t.key: worst(r, k).get(e),  # type: ignore[misc]
                    _mask_worst(e, t.key),
                )
            )
    return fams


def other_threats() -> list[ThreatModel]:
    """The threat models after L-inf, in order (each gets its own worst case and row)."""
    return sorted((t for _, t in THREATS.items() if not t.is_default), key=lambda t: t.order)


def eps_words(norm: str) -> str:
    t = threat(norm)
    return "eps" if t.is_default else f"{t.label} eps"


def worst_name(norm: str) -> str:
    """The worst case's family name: of all attacks (L-inf), of all L2 attacks, ..."""
    t = threat(norm)
    return WORST if t.is_default else f"worst case of all {t.label} attacks"


def paired_diffs(results: list[ModelResult], label: str, f: Scalar) -> list[float]:
    """Per seed, the setting's value minus the reference's (beta = 0, plain CE)."""
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
    masks: list[Mask] = []  # each comparison's mask, to resample again
    for family, where, f, mask in _families(results):
        for setting in labels:
            diffs = paired_diffs(results, setting, f)
            clean = paired_diffs(results, setting, _clean)
            if not diffs or not clean:
                continue
            c = estimate(clean)
            boot = _boot(results, setting, mask)
            p = boot.p_value if boot is not None else paired_p_value(diffs)
            found.append((family, where, setting, estimate(diffs), boot, c, p))
            masks.append(mask)

    def redo(i: int, resamples: int) -> float:
        _, _, setting, _, boot, _, p = found[i]
        again = None if boot is None else _boot(results, setting, masks[i], resamples)
        return p if again is None else again.p_value  # a t-test p has no floor

    adjusted = holm(resolve_floor([f[-1] for f in found], BOOTSTRAP_RESAMPLES, redo))
    return [
        Comparison(family, where, setting, d, boot, c, adjusted[i])
        for i, (family, where, setting, d, boot, c, _) in enumerate(found)
    ]


WORST = "worst case of all attacks"


def _specs(results: list[ModelResult]) -> dict[str, AttackSpec]:
    specs: dict[str, AttackSpec] = {}
    for r in results:
        specs.update(attack_facts(r.completed_attacks()))
    return specs


def strongest(results: list[ModelResult], families: Iterable[str], norm: str = "inf") -> str | None:
    """The strongest standard attack of the norm among `families` (the norm's worst case of
    all attacks above every single one), by the attacks' own `verdict_rank`; None: no
    standard attack of the norm ran. The verdict's answer is L-inf's; L2 has its own."""
    ranks = {
        label: s.verdict_rank
        for label, s in _specs(results).items()
        if s.verdict_rank > 0 and s.norm == norm
    }
    ranks[worst_name(norm)] = max(ranks.values(), default=0) + 1
    return max((f for f in families if f in ranks), key=ranks.__getitem__, default=None)


def paper_labels(results: list[ModelResult]) -> set[str]:
    """The labels of the authors' variants that ran."""
    return {label for label, s in _specs(results).items() if s.paper_objective}


def one_step(results: list[ModelResult]) -> str | None:
    """The label of the standard one-step attack that ran (FGSM), if any."""
    found = [
        label
        for label, s in _specs(results).items()
        if s.one_step and not s.paper_objective and s.threat.is_default
    ]
    return min(found, default=None)


K = TypeVar("K")
PerImageScore = Callable[[ModelResult], "np.ndarray | None"]


def paired_family(
    results: list[ModelResult], columns: list[tuple[K, PerImageScore]]
) -> list[tuple[K, str, Bootstrap, float]]:
    """Each non-reference setting's change from the reference under each column's per-image
    score: paired by seed and image, BOOTSTRAP_RESAMPLES resamples (seed 0), Holm over every
    change of the list. (column key, setting, bootstrap, Holm-adjusted p) each."""
    base = {r.seed: r for r in results if r.setting.reference}
    found: list[tuple[K, str, Bootstrap]] = []
    arrays: list[tuple[np.ndarray, np.ndarray]] = []  # each change's pairs, to resample again
    for label, group in by_setting(results):
        if group[0].setting.reference:
            continue
        for key, score in columns:
            pairs = [
                (a, b)
                for r in group
                if (ref := base.get(r.seed)) is not None
                and (a := score(r)) is not None
                and (b := score(ref)) is not None
                and len(a) == len(b)
            ]
            if not pairs:
                continue
            arrays.append((np.stack([a for a, _ in pairs]), np.stack([b for _, b in pairs])))
            boot = hierarchical_bootstrap(*arrays[-1], resamples=BOOTSTRAP_RESAMPLES, seed=0)
            found.append((key, label, boot))
    adjusted = paired_holm(arrays, [b.p_value for _, _, b in found], BOOTSTRAP_RESAMPLES)
    return [(k, s, b, p) for (k, s, b), p in zip(found, adjusted, strict=True)]
