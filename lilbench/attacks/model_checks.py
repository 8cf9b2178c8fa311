"""Model-level sanity checks (FACTS.md items 2-10 that span attacks), run once per model.

Per-attack checks live in `checks.py`; these compare attacks with each other and probe the
model itself: logits in eval mode, determinism, useful input gradients, chance accuracy at
eps = 1, PGD <= FGSM, more steps or restarts never helping, and a gradient-free attack not
beating the gradient attacks (a sign of gradient masking).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from lilbench.attacks.base import attack_facts
from lilbench.attacks.checks import Check, unpack_mask
from lilbench.lazy import lazy_module
from lilbench.models.functional import input_gradient
from lilbench.schemas import AttackRecord, Point
from lilbench.threats import threat

if TYPE_CHECKING:
    from lilbench.attacks import art_backend
    from lilbench.attacks.kernels import art_steps
else:
    art_backend = lazy_module("lilbench.attacks.art_backend")
    art_steps = lazy_module("lilbench.attacks.kernels.art_steps")

TOL = 1e-9
MASKING_MARGIN = 0.005  # 0.5 pp


def _points(record: AttackRecord) -> dict[float, Point]:
    return {round(p.eps, 9): p for p in record.points}


def check_logits_eval(model: nn.Module, x: torch.Tensor) -> Check:
    with torch.no_grad():
        out = model(x)
    # NaN compares false with everything: without this a NaN model "outputs logits"
    bad_rows = int((~torch.isfinite(out)).any(1).sum())
    probs = bool(out.min() >= 0) and torch.allclose(out.sum(1), out.new_ones(len(out)), atol=1e-4)
    ok = (not model.training) and not probs and bad_rows == 0
    if bad_rows:
        kind = f"are NOT finite (NaN or inf in {bad_rows} of {len(out)} rows)"
    else:
        kind = "look like probabilities" if probs else "are logits"
    return Check("eval mode, logits out", ok, f"training={model.training}; outputs {kind}")


def check_deterministic(model: nn.Module, x: torch.Tensor) -> Check:
    with torch.no_grad():
        same = torch.equal(model(x), model(x))
    return Check(
        "deterministic logits",
        same,
        "two forward passes are bit-identical"
        if same
        else "two forward passes DIFFER (randomness in the model?)",
    )


def check_gradients(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> Check:
    norms = input_gradient(model, x, y, reduction="sum").flatten(1).norm(dim=1)
    useful = float((torch.isfinite(norms) & (norms > 0)).float().mean())
    return Check(
        "input gradients non-zero and finite for most inputs",
        useful > 0.5,
        f"{useful:.1%} of {len(x)} inputs have a finite, non-zero gradient",
    )


def full_eps(norm: str, input_dim: int) -> float:
    """The radius whose ball covers the whole [0, 1] cube: 1 in L-inf, sqrt(d) in L2, d in
    L1."""
    return threat(norm).full_radius(input_dim)


def check_chance_at_full_eps(
    records: dict[str, AttackRecord], num_classes: int, input_dim: int = 784
) -> Check:
    """At a radius that covers the whole cube in the attack's own norm (L-inf 1; L2
    sqrt(d), 28 on MNIST) every attack must reach chance or below."""
    facts = attack_facts(records)
    found = [
        (label, p.accuracy)
        for label, rec in records.items()
        if rec.sweep == "eps"
        for p in rec.points
        if abs(p.eps - full_eps(facts[label].norm, input_dim)) < TOL
    ]
    if not found:
        return Check("chance or below at eps = 1", False, "no attack was run at eps = 1")
    bad = [f"{label}: {acc:.4f}" for label, acc in found if acc > 1 / num_classes + TOL]
    return Check(
        "chance or below at eps = 1",
        not bad,
        "; ".join(bad) or ", ".join(f"{label} {acc:.4f}" for label, acc in found),
    )


def check_stronger_not_weaker(
    records: dict[str, AttackRecord], strong: str, weak: str, name: str
) -> Check | None:
    if strong not in records or weak not in records:
        return None
    s, w = _points(records[strong]), _points(records[weak])
    common = sorted(set(s) & set(w))
    if not common:
        return Check(name, False, f"{strong} and {weak} share no eps")
    bad = [
        f"eps={e:g}: {s[e].accuracy:.4f} > {w[e].accuracy:.4f}"
        for e in common
        if s[e].correct > w[e].correct
    ]
    return Check(
        name, not bad, "; ".join(bad) or f"holds at eps {', '.join(f'{e:g}' for e in common)}"
    )


def check_masking(records: dict[str, AttackRecord]) -> Check | None:
    """A gradient-free attack (the class says which) must not beat the gradient attacks."""
    facts = attack_facts(records)
    free = [label for label, spec in facts.items() if spec.gradient_free]
    if not free:
        return None
    witnesses = [label for label, spec in facts.items() if spec.gradient_witness]
    bad, seen = [], 0
    for label in free:
        shown = label.capitalize()
        # an eps means another ball in another norm: compare attacks of the same norm only
        same = [g for g in witnesses if facts[g].norm == facts[label].norm]
        for e, p in _points(records[label]).items():
            grad = [_points(records[g])[e].accuracy for g in same if e in _points(records[g])]
            if not grad:
                continue
            seen += 1
            if p.accuracy < min(grad) - MASKING_MARGIN:
                bad.append(f"eps={e:g}: {shown} {p.accuracy:.4f} < best gradient {min(grad):.4f}")
    if not seen:
        return Check(
            "gradient-free does not beat gradient attacks",
            False,
            f"{', '.join(f.capitalize() for f in free)} shares no eps with a gradient attack",
        )
    return Check(
        "gradient-free does not beat gradient attacks",
        not bad,
        "; ".join(bad) or f"within {MASKING_MARGIN:.1%} at {seen} eps",
    )


def check_more_effort(
    clf: Any, x: np.ndarray, y: np.ndarray, *, seed: int, eps: float = 0.1
) -> Check:
    """PGD with 20 steps vs 10 (same step), and 3 random starts vs 1 (same first start)."""

    def acc(adv: np.ndarray) -> float:
        return float((clf.predict(adv, batch_size=1000).argmax(1) == y).mean())

    def pgd(steps: int, restarts: int) -> float:
        return acc(
            art_backend.art_pgd(
                clf,
                x,
                y,
                eps=eps,
                step=eps / 4,
                steps=steps,
                restarts=restarts,
                batch_size=1000,
                seed=seed,
            )
        )

    a10, a20, r1, r3 = pgd(10, 0), pgd(20, 0), pgd(10, 1), pgd(10, 3)
    # More fixed-size steps can oscillate by a sample or two; restarts keep the first start's
    # successes (same seed), so they must never help at all.
    slack = max(MASKING_MARGIN, 2 / len(x))
    ok = a20 <= a10 + slack and r3 <= r1 + TOL
    return Check(
        "more steps and restarts never help the model",
        ok,
        f"eps {eps:g} on {len(x)} inputs: 10 steps {a10:.4f}, 20 steps {a20:.4f}; "
        f"1 start {r1:.4f}, 3 starts {r3:.4f}",
    )


def worst_case(records: dict[str, AttackRecord]) -> dict[float, tuple[int, int, list[str]]]:
    """Per eps: (examples correct under every L-inf attack run at that eps, n, attacks).
    L2 records are left out: their eps is another ball (a per-norm worst case is to come)."""
    by_eps: dict[float, list[tuple[str, np.ndarray]]] = {}
    facts = attack_facts(records)
    for label, rec in records.items():
        if rec.sweep != "eps" or not facts[label].threat.is_default:
            continue
        n = rec.samples.n
        for p in rec.points:
            if p.correct_bits:
                by_eps.setdefault(round(p.eps, 9), []).append(
                    (label, unpack_mask(p.correct_bits, n))
                )
    out = {}
    for e, masks in sorted(by_eps.items()):
        joint = np.logical_and.reduce([m for _, m in masks])
        out[e] = (int(joint.sum()), len(joint), [label for label, _ in masks])
    return out


def model_checks(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    records: dict[str, AttackRecord],
    *,
    num_classes: int,
    seed: int,
    probe: int = 500,
) -> list[Check]:
    xs, ys = x[:probe], y[:probe]
    clf = art_backend.make_classifier(
        model, input_dim=x.shape[1], num_classes=num_classes, device=torch.device("cpu")
    )
    checks = [
        check_logits_eval(model, xs),
        check_deterministic(model, xs),
        check_gradients(model, xs, ys),
        check_chance_at_full_eps(records, num_classes, input_dim=x.shape[1]),
        check_more_effort(clf, xs.numpy(), ys.numpy(), seed=seed),
        check_stronger_not_weaker(records, "pgd-eps", "fgsm", "PGD <= FGSM at equal eps"),
        check_stronger_not_weaker(records, "apgd-ce", "pgd-eps", "APGD-CE <= PGD at equal eps"),
        check_stronger_not_weaker(
            records, "autoattack", "pgd-eps", "AutoAttack <= PGD at equal eps"
        ),
        check_masking(records),
    ]
    per_attack = all(c.passed for rec in records.values() for c in rec.checks)
    checks.append(
        Check(
            "per-attack checks",
            per_attack,
            "all pass" if per_attack else "some attack has a failed check",
        )
    )
    return [c for c in checks if c is not None]


def probe_model(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    num_classes: int,
    handed_in_training: bool,
    train_time_layers: list[str],
    probe: int = 256,
) -> list[Check]:
    """The model-level checks that need no other attack: run on every model lilbench did not
    train, beside each attack. Probabilities for logits, randomness in the forward pass
    (a model exported in training mode keeps its dropout), zero or NaN input gradients (a
    rounding layer), and accuracy above chance under PGD at eps = 1 (the attack or the model
    is broken) each fail here, by name."""
    xs, ys = x[:probe], y[:probe]
    layers = ", ".join(train_time_layers) or "none"
    checks = [check_logits_eval(model, xs)]
    if handed_in_training:
        checks.append(
            Check(
                "handed over in eval mode",
                not train_time_layers,
                f"the model came in training mode (train-time layers: {layers}); it was "
                "evaluated in eval mode",
            )
        )
    elif train_time_layers:
        checks.append(Check("evaluated in eval mode", True, f"train-time layers: {layers}"))
    checks += [check_deterministic(model, xs), check_gradients(model, xs, ys)]
    clf = art_backend.make_classifier(
        model, input_dim=xs.shape[1], num_classes=num_classes, device=xs.device
    )
    adv = art_steps.linf_pgd_clean_start(
        clf, xs.cpu().numpy(), ys.cpu().numpy(), eps=1.0, step=0.25, steps=10, batch_size=probe
    )
    with torch.no_grad():
        acc = float((model(torch.from_numpy(adv).to(xs.device)).argmax(1) == ys).float().mean())
    checks.append(
        Check(
            "chance or below at eps = 1",
            acc <= 1 / num_classes + TOL,
            f"PGD (10 steps of 0.25) at eps = 1 leaves {acc:.3f} of {len(xs)} correct",
        )
    )
    return checks
