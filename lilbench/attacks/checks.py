"""Sanity checks run on every attack result (FACTS.md items 1-4 and 9).

A failed check is recorded and shown, never hidden; `--strict` turns it into exit code 1.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from lilbench.threats import threat

LINF_TOL = 1e-6


@dataclass(frozen=True)
class PointResult:
    eps: float
    step: float
    n: int
    correct: int  # from ART's predictions on the returned examples
    recomputed_correct: int  # an independent forward pass of the model on the same examples
    max_linf: float
    min_value: float
    max_value: float
    finite: bool
    correct_bits: str = ""  # hex of numpy.packbits(correct mask): for per-example worst cases
    max_l2: float | None = None  # the largest L2 perturbation: measured for L2 attacks
    # the largest perturbation in the attack's own norm, for the norms after L2 (L1): the
    # record's params name the norm
    max_lp: float | None = None
    passes: dict[str, float] | None = None  # forward and backward rows per image
    members: dict[str, dict[str, float]] | None = None  # AutoAttack's, in the order run
    indicators: dict[str, str] | None = None  # per-image bits of the indicators of failure
    # images correct at the returned point but not unperturbed: the per-image rule's effect
    rule_removed: int | None = None

    @property
    def accuracy(self) -> float:
        return self.correct / self.n

    def to_dict(self) -> dict[str, Any]:
        d = {**asdict(self), "accuracy": self.accuracy}
        for key in ("max_l2", "max_lp", "passes", "members", "indicators", "rule_removed"):
            if d[key] is None:
                del d[key]  # records keep the fields they always had
        return d


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def measure_point(
    x: torch.Tensor,
    adv: torch.Tensor,
    *,
    eps: float,
    step: float,
    correct: int,
    recomputed_correct: int,
    correct_mask: np.ndarray | None = None,
    norm: str = "inf",
    passes: dict[str, float] | None = None,
    members: dict[str, dict[str, float]] | None = None,
    indicators: dict[str, str] | None = None,
    rule_removed: int | None = None,
) -> PointResult:
    # max/min propagate NaN and see +-inf, so finiteness follows from the three reductions.
    max_linf = float((adv - x).abs_().max())
    lo, hi = (float(v) for v in torch.aminmax(adv))
    own: dict[str, float] = {}
    t = threat(norm)
    if not t.is_default:  # per image, in float64 so that the norm itself adds no rounding error
        own[t.size_field] = float(t.distance(adv, x).max()) if len(x) else 0.0
    return PointResult(
        eps=eps,
        step=step,
        n=len(x),
        correct=correct,
        recomputed_correct=recomputed_correct,
        max_linf=max_linf,
        min_value=lo,
        max_value=hi,
        finite=all(math.isfinite(v) for v in (max_linf, lo, hi, *own.values())),
        correct_bits="" if correct_mask is None else pack_mask(correct_mask),
        passes=passes,
        members=members,
        indicators=indicators,
        rule_removed=rule_removed,
        **own,
    )


def pack_mask(mask: np.ndarray) -> str:
    return np.packbits(mask.astype(bool)).tobytes().hex()


def unpack_mask(bits: str, n: int) -> np.ndarray:
    return np.unpackbits(np.frombuffer(bytes.fromhex(bits), dtype=np.uint8))[:n].astype(bool)


def check_input_unchanged(unchanged: bool) -> Check:
    return Check(
        "input not mutated",
        unchanged,
        "the clean inputs are bit-identical after the attack"
        if unchanged
        else "the attack CHANGED the clean input array",
    )


def _own(p: PointResult) -> float | None:
    """The perturbation's size in the attack's own norm where it is not L-inf."""
    return p.max_l2 if p.max_lp is None else p.max_lp


def _radius(p: PointResult) -> float:
    """The perturbation's size in the attack's own norm (L-inf unless measured)."""
    own = _own(p)
    return p.max_linf if own is None else own


def check_bounds(points: list[PointResult]) -> Check:
    """Every example within eps in the attack's own norm (L-inf, or L2 where the point
    measured it; float32 rounding allowed: LINF_TOL absolute, L2 also 1e-6 relative), inside
    [0, 1], finite."""
    bad = [
        f"eps={p.eps:g}: max|d|{'' if _own(p) is None else '_p'}={_radius(p):.6g}, range "
        f"[{p.min_value:.3g}, {p.max_value:.3g}]" + ("" if p.finite else ", non-finite")
        for p in points
        if not (
            p.finite
            and _radius(p) <= p.eps * (1 + (0 if _own(p) is None else 1e-6)) + LINF_TOL
            and p.min_value >= 0.0
            and p.max_value <= 1.0
        )
    ]
    in_own = (
        " in L2"
        if any(p.max_l2 is not None for p in points)
        else " in its norm"
        if any(p.max_lp is not None for p in points)
        else ""
    )
    return Check(
        "within eps and [0, 1], finite",
        not bad,
        "; ".join(bad) or f"all {len(points)} points inside{in_own} (tol {LINF_TOL:g})",
    )


def check_eps_zero(identical: bool, probe_correct: int, clean_correct: int, n: int) -> Check:
    ok = identical and probe_correct == clean_correct
    detail = (
        f"eps=0 on {n} samples: input returned {'unchanged' if identical else 'CHANGED'}, "
        f"{probe_correct}/{n} correct vs clean {clean_correct}/{n}"
    )
    return Check("eps = 0 returns the input", ok, detail)


def check_below_clean(points: list[PointResult], clean_correct: int) -> Check:
    bad = [
        f"eps={p.eps:g} step={p.step:g}: {p.correct} > {clean_correct}"
        for p in points
        if p.correct > clean_correct
    ]
    return Check("robust <= clean accuracy", not bad, "; ".join(bad) or "holds at every point")


def check_monotone_in_eps(points: list[PointResult]) -> Check:
    ordered = sorted(points, key=lambda p: p.eps)
    bad = [
        f"eps {a.eps:.3g} -> {b.eps:.3g}: {a.correct} -> {b.correct} correct"
        for a, b in itertools.pairwise(ordered)
        if b.eps > a.eps and b.correct > a.correct
    ]
    return Check("accuracy does not rise with eps", not bad, "; ".join(bad) or "non-increasing")


def check_recomputed(points: list[PointResult]) -> Check:
    bad = [
        f"eps={p.eps:g} step={p.step:g}: {p.correct} vs {p.recomputed_correct}"
        for p in points
        if p.correct != p.recomputed_correct
    ]
    return Check(
        "accuracy recomputed on returned examples",
        not bad,
        "; ".join(bad) or "identical counts at every point",
    )
