"""Attack optimality (AttackBench, Cina et al. 2024): how close each attack comes, on each
model, to the best any attack of the suite found per image.

For an attack a with eps grid e_1 < ... < e_K (one norm), rho_a(e) is the share of images
classified correctly unperturbed and at a's returned point at e; rho*(e) is the share that no
attack of that norm broke at any eps <= e (the per-image best over every attack run,
apgd-search's bisection included). rho* <= rho_a everywhere, and the local optimality is
LO = area(rho*) / area(rho_a) over a's own grid (trapezoids; the ratio itself for a one-point
grid), in [0, 1], 1 when the attack finds everything the others do. Measuring over the
attack's own grid keeps a coarse grid from counting as a weak attack.
"""

from __future__ import annotations

import numpy as np

from lilbench.attacks.base import attack_facts
from lilbench.attacks.checks import unpack_mask
from lilbench.reports.aggregate import Table, by_setting, key_header
from lilbench.results.per_image import eps_records, minimal_eps, norms_of
from lilbench.results.suite_results import ModelResult
from lilbench.schemas import AttackRecord
from lilbench.threats import threat


def _area(eps: list[float], values: list[float]) -> float:
    if len(eps) == 1:
        return values[0]
    return float(np.trapezoid(values, eps))


def local_optimality(rec: AttackRecord, clean: np.ndarray, best: np.ndarray) -> float:
    """LO of one attack record on one model, given the model's clean mask and the per-image
    minimal eps over every attack of the record's norm."""
    n = len(clean)
    points = sorted((p for p in rec.points if p.eps > 0), key=lambda p: float(p.eps))
    eps = [float(p.eps) for p in points]
    attack = [float((unpack_mask(str(p.correct_bits), n) & clean).mean()) for p in points]
    optimum = [float((best > e).mean()) for e in eps]
    area = _area(eps, attack)
    return 1.0 if area == 0 else _area(eps, optimum) / area


def optimality(
    results: list[ModelResult], clean: dict[tuple[str, int], np.ndarray], norm: str
) -> dict[str, dict[str, list[float]]]:
    """attack label -> setting label -> LO per seed."""
    out: dict[str, dict[str, list[float]]] = {}
    for r in results:
        mask = clean.get((r.label, r.seed))
        if mask is None:
            continue
        best = minimal_eps(r, mask, norm)
        for label, rec in eps_records(r, norm).items():
            if rec.samples.n == len(mask):
                value = local_optimality(rec, mask, best)
                out.setdefault(label, {}).setdefault(r.label, []).append(value)
    return out


def optimality_table(
    results: list[ModelResult],
    clean: dict[tuple[str, int], np.ndarray],
    norm: str,
    attack_order: list[str],
) -> tuple[Table, str] | None:
    """Rows: attacks of one norm; columns: the mean LO over seeds per setting, the mean over
    models and the lowest. With the sentence naming the weakest link. None under two
    attacks."""
    found = optimality(results, clean, norm)
    if len(found) < 2:  # one attack has no weaker link to name
        return None
    settings = [label for label, _ in by_setting(results)]
    header = ["attack", *(f"{key_header(results)}={s}" for s in settings), "mean", "lowest"]
    rows, means = [], {}
    for label in [a for a in attack_order if a in found]:
        per = found[label]
        every = [v for s in settings for v in per.get(s, [])]
        means[label] = float(np.mean(every))
        rows.append(
            [
                label,
                *(f"{np.mean(per[s]):.3f}" if s in per else "-" for s in settings),
                f"{means[label]:.3f}",
                f"{min(every):.3f}",
            ]
        )
    weakest = min(means, key=lambda k: means[k])
    strongest = max(means, key=lambda k: means[k])
    sentence = (
        f"Weakest link in {threat(norm).label}: {weakest} (mean optimality "
        f"{means[weakest]:.3f}); closest to the per-image best: {strongest} "
        f"({means[strongest]:.3f})."
    )
    return (header, rows), sentence


__all__ = ["local_optimality", "norms_of", "optimality", "optimality_table"]


def work_table(results: list[ModelResult], attack_order: list[str]) -> Table | None:
    """Per attack (and AutoAttack member): seconds per model and forward and backward passes
    per image, each summed over the record's points and averaged over the models."""
    seconds: dict[str, list[float]] = {}
    work: dict[str, list[tuple[float, float]]] = {}
    checks: dict[str, list[tuple[float, float | None]]] = {}  # seconds, forward per image
    uncounted: dict[str, str] = {}  # label -> why its passes are not counted
    for r in results:
        for label, rec in r.completed_attacks().items():
            t = rec.timings
            if "check_seconds" in t:
                split = float(t["check_seconds"])
                fwd_checks = t.get("check_forward_per_image")
                checks.setdefault(label, []).append(
                    (split, None if fwd_checks is None else float(fwd_checks))
                )
                seconds.setdefault(label, []).append(float(t.get("total_seconds", 0.0)) - split)
            else:
                seconds.setdefault(label, []).append(float(t.get("total_seconds", 0.0)))
            counted = [p.passes for p in rec.points]
            if any(c is None for c in counted):
                # the authors' objective ran on a classifier of its own, which runs before
                # it was counted did not count; any other attack predates pass counting
                paper = attack_facts({label: rec})[label].paper_objective
                uncounted[label] = (
                    "not counted (authors' objective)"
                    if paper
                    else ("not counted (earlier record)")
                )
                continue
            fwd = sum(float(c["forward"]) for c in counted if c)
            bwd = sum(float(c["backward"]) for c in counted if c)
            work.setdefault(label, []).append((fwd, bwd))
            members: dict[str, list[float]] = {}
            for p in rec.points:
                for name, m in (p.members or {}).items():
                    got = members.setdefault(name, [0.0, 0.0, 0.0])
                    got[0] += float(m.get("seconds", 0.0))
                    got[1] += float(m.get("forward", 0.0))
                    got[2] += float(m.get("backward", 0.0))
            for name, (s, f, b) in members.items():
                sub = f"{label}: {name}"
                seconds.setdefault(sub, []).append(s)
                work.setdefault(sub, []).append((f, b))
    if not seconds:
        return None
    header = [
        "attack",
        "seconds per model",
        "forward passes per image",
        "backward per image",
        "checks: seconds per model",
        "checks: forward per image",
    ]
    rows = []
    labels = []
    for attack in (a for a in attack_order if a in seconds):
        labels += [attack, *(k for k in seconds if k.startswith(f"{attack}: "))]
    for label in labels:
        row = [label, f"{np.mean(seconds[label]):.1f}"]
        if label in work and label not in uncounted:
            pairs = np.array(work[label])
            row += [f"{pairs[:, 0].mean():.1f}", f"{pairs[:, 1].mean():.1f}"]
        else:
            row += [uncounted.get(label, "not counted (earlier record)"), "-"]
        found = checks.get(label)
        if found is None:
            row += ["-", "-"]  # a member (its checks are the record's), or an earlier record
        else:
            row.append(f"{np.mean([c[0] for c in found]):.1f}")
            rows_fwd = [c[1] for c in found if c[1] is not None]
            row.append(f"{np.mean(rows_fwd):.1f}" if rows_fwd else "not counted")
        rows.append(row)
    return header, rows
