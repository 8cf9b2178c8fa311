"""Run an attack spec on a model and check every result."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from lilbench.attacks import checks as C
from lilbench.attacks import indicators
from lilbench.attacks.base import AttackContext, AttackSpec, Point
from lilbench.attacks.faithful import ObjectiveOutputs, make_objective_classifier
from lilbench.attacks.kernels.common import PassCounter
from lilbench.attacks.model_checks import full_eps
from lilbench.lazy import lazy_module
from lilbench.models.functional import correct_mask

if TYPE_CHECKING:
    from art.estimators.classification import PyTorchClassifier

    from lilbench.attacks import art_backend
else:
    # ART loads when an attack runs (its classifier wraps every model), not on import: the
    # process that only schedules a suite never needs it
    art_backend = lazy_module("lilbench.attacks.art_backend")

Progress = Callable[[int, int], None]
EPS0_PROBE = 256  # samples used for the eps = 0 identity check


# AutoAttack's per-image rule: robust = correct on the clean input AND at the returned point
# (an attack never makes an image "more correct"). Records say so by this name; records
# written before it are migrated when read (results/records.py).
RULE = "clean-and-attacked"


@dataclass
class AttackOutcome:
    n: int
    clean_correct: int
    points: list[C.PointResult]
    checks: list[C.Check]
    timings: dict[str, float] = field(default_factory=dict)
    clean_bits: str = ""  # which images the model classifies correctly unperturbed
    indicators: dict[str, Any] = field(default_factory=dict)  # the run's, beside the points'

    @property
    def clean_accuracy(self) -> float:
        return self.clean_correct / self.n

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)


def _art_mask(clf: PyTorchClassifier, x: np.ndarray, y: np.ndarray, batch: int) -> np.ndarray:
    return np.asarray(clf.predict(x, batch_size=batch).argmax(1) == y)


def _per_image(forward: int, backward: int, n: int) -> dict[str, float]:
    return {"forward": forward / n, "backward": backward / n}


def _members(log: Any, n: int) -> dict[str, dict[str, float]] | None:
    """AutoAttack's members, in the order run: images broken, seconds, passes per image (of
    all the run's images, so that the members' passes add up to the point's)."""
    if log is None:
        return None
    return {
        name: {
            "broken": log.broken.get(name, 0),
            "seconds": seconds,
            **(_per_image(log.forward[name], log.backward[name], n) if name in log.forward else {}),
        }
        for name, seconds in log.seconds.items()
    }


def _record_indicators(
    spec: AttackSpec,
    ctx: AttackContext,
    model: nn.Module,
    clean: np.ndarray,
    probe: slice,
    *,
    seed: int,
    device: torch.device,
) -> dict[str, Any]:
    """The run's indicators that are not per point: unstable predictions on the first
    UNSTABLE_IMAGES images, and the attack with its ball over the whole cube on the probe's
    images (eps sweeps of the standard attacks; a bisection or a step sweep has no such
    point). Each says how many images it probed."""
    sample = slice(0, min(indicators.UNSTABLE_IMAGES, len(ctx.x)))
    x = torch.from_numpy(ctx.x[sample]).to(device)
    y = torch.from_numpy(ctx.y[sample]).to(device)
    change = indicators.shared_unstable_predictions(model, x, y, seed=seed)
    flagged = (change > indicators.UNSTABLE_THRESHOLD) & clean[sample]
    out: dict[str, Any] = {
        "unstable-predictions": {
            "radius": indicators.UNSTABLE_RADIUS,
            "draws": indicators.UNSTABLE_DRAWS,
            "threshold": indicators.UNSTABLE_THRESHOLD,
            "images_probed": len(change),
            "max": float(change.max()) if len(change) else 0.0,
            "bits": C.pack_mask(flagged),
        }
    }
    if spec.sweep == "eps" and not spec.paper_objective and not spec.minimal_perturbation:
        full = full_eps(spec.norm, ctx.x.shape[1])
        grid_spec: Any = spec  # every eps sweep has an `eps` grid field
        wide = replace(grid_spec, eps=(full,))
        adv = wide.generate(ctx, wide.points()[0], probe)
        still = _art_mask(ctx.clf, adv.numpy(), ctx.y[probe], spec.batch_size) & clean[probe]
        correct = int(clean[probe].sum())
        out["unconstrained-failure"] = {
            "eps": full,
            "images_probed": len(still),
            "images": correct,
            "unbroken": int(still.sum()),
            "share": float(still.sum()) / correct if correct else 0.0,
            "bits": C.pack_mask(still),
        }
    return out


def _art_correct(clf: PyTorchClassifier, x: np.ndarray, y: np.ndarray, batch: int) -> int:
    return int((clf.predict(x, batch_size=batch).argmax(1) == y).sum())


def run_attack(
    model: nn.Module,
    spec: AttackSpec,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    num_classes: int,
    objective: dict[str, float | str] | None = None,
    device: torch.device | str = "cpu",
    seed: int = 0,
    progress: Progress | None = None,
    image_shape: tuple[int, ...] | None = None,
) -> AttackOutcome:
    """`image_shape`: one input as (C, H, W), for the attacks that need images (Square,
    AutoAttack); None means square grey images."""
    spec.validate()
    device = torch.device(device)
    t0 = time.perf_counter()
    snapshot = x.detach().cpu().clone()  # what the inputs must still be after the attack
    x_np = np.ascontiguousarray(x.detach().cpu().numpy(), dtype=np.float32)
    y_np = y.detach().cpu().numpy().astype(np.int64)
    model = model.to(device).eval()
    counter = PassCounter(model)  # the work each point costs, in rows run per image
    clf = art_backend.make_classifier(
        counter, input_dim=x_np.shape[1], num_classes=num_classes, device=device
    )
    bs = spec.batch_size
    clean_mask = _art_mask(clf, x_np, y_np, bs)
    clean_correct = int(clean_mask.sum())
    # the authors' objective runs on a classifier of its own (logits, phi and the input in
    # one output): its rows are counted too, one pass per row of that network
    objective_counter = PassCounter(ObjectiveOutputs(model))
    objective_clf = (
        _objective_classifier(model, objective, x_np, num_classes, device, objective_counter)
        if spec.paper_objective
        else None
    )
    ctx = AttackContext(
        clf,
        x_np,
        y_np,
        seed=seed,
        batch_size=spec.batch_size,
        objective_clf=objective_clf,
        image_shape=image_shape,
    )
    x_cpu, y_dev = torch.from_numpy(x_np), torch.from_numpy(y_np).to(device)
    # the checks' own passes, counted apart from the attack's
    checker = PassCounter(model)
    clean_model = correct_mask(checker, x_cpu.to(device), y_dev, 4096)  # the independent path
    grid = spec.points()
    attack_seconds = time.perf_counter() - t0
    check_seconds = 0.0
    n = len(x_np)
    run = _Run(
        spec, ctx, counter, objective_counter, checker, clean_mask, clean_model, x_cpu, y_dev
    )
    points: list[C.PointResult] = []
    for i, point in enumerate(grid):
        result, attack_s, check_s = _point(run, point)
        points.append(result)
        attack_seconds += attack_s
        check_seconds += check_s
        if progress is not None:
            progress(i + 1, len(grid))
    t3 = time.perf_counter()
    probes_before = counter.snapshot()  # the eps = 0 and unconstrained probes run the attack
    probe = slice(0, min(EPS0_PROBE, len(x_np)))
    checks = [
        C.check_bounds(points),
        _eps0_check(spec, ctx, grid[0].step, probe, x_cpu[probe]),
        C.check_below_clean(points, clean_correct),
        C.check_recomputed(points),
        C.check_input_unchanged(bool(torch.equal(x_cpu, snapshot))),
    ]
    if spec.sweep == "eps":
        checks.append(C.check_monotone_in_eps(points))
    found = _record_indicators(spec, ctx, checker, clean_mask, probe, seed=seed, device=device)
    check_seconds += time.perf_counter() - t3
    probed = np.subtract(counter.snapshot(), probes_before)
    check_fwd, check_bwd = np.add(checker.snapshot(), probed)
    timings = {
        "attack_seconds": attack_seconds,  # set-up, clean pass, attacks, ART's accuracy counts
        "check_seconds": check_seconds,  # bounds, recomputed accuracy, probes, indicators
        "total_seconds": time.perf_counter() - t0,
        # rows the checks ran per attacked image (an indicator shared with an earlier record
        # of the same model, as unstable predictions are, counts where it was computed)
        "check_forward_per_image": float(check_fwd) / max(n, 1),
        "check_backward_per_image": float(check_bwd) / max(n, 1),
    }
    bits = C.pack_mask(clean_mask)
    return AttackOutcome(len(x_np), clean_correct, points, checks, timings, bits, found)


@dataclass
class _Run:
    """What every point of one attack run shares."""

    spec: AttackSpec
    ctx: AttackContext
    counter: PassCounter  # the attack's passes
    objective_counter: PassCounter  # the authors' objective's passes
    checker: PassCounter  # the checks' passes
    clean_mask: np.ndarray  # ART's verdict on the clean images
    clean_model: np.ndarray  # the model's own
    x_cpu: torch.Tensor
    y_dev: torch.Tensor


def _point(run: _Run, point: Point) -> tuple[C.PointResult, float, float]:
    """One point of the grid, attacked and measured: (its result, the attack's seconds, the
    checks' seconds)."""
    spec, ctx, clean_mask = run.spec, run.ctx, run.clean_mask
    n, y_np, device = len(ctx.x), ctx.y, run.y_dev.device
    t1 = time.perf_counter()
    ctx.notes = {}
    f0, b0 = np.add(run.counter.snapshot(), run.objective_counter.snapshot())
    adv = spec.generate(ctx, point, slice(None))
    f1, b1 = np.add(run.counter.snapshot(), run.objective_counter.snapshot())
    raw = _art_mask(ctx.clf, adv.numpy(), y_np, spec.batch_size)
    mask = raw & clean_mask
    t2 = time.perf_counter()
    work = _per_image(int(f1 - f0), int(b1 - b0), n)
    own = correct_mask(run.checker, adv.to(device), run.y_dev, 4096)  # the model's own verdict
    flags = indicators.point_indicators(
        ctx.notes.get("trace"),
        robust=mask,
        clean=clean_mask,
        attack_adversarial=~raw,
        model_correct=own,
    )
    result = C.measure_point(
        run.x_cpu,
        adv,
        eps=point.eps,
        step=point.step,
        correct=int(mask.sum()),
        correct_mask=mask,
        # A different code path and batch size from ART's predict, on the same examples.
        recomputed_correct=int((own & run.clean_model).sum()),
        norm=spec.norm,
        passes=work,
        members=_members(ctx.notes.get("members"), n),
        indicators=flags,
        rule_removed=int((raw & ~clean_mask).sum()),
    )
    return result, t2 - t1, time.perf_counter() - t2


def _objective_classifier(
    model: nn.Module,
    objective: dict[str, float | str] | None,
    x_np: np.ndarray,
    num_classes: int,
    device: torch.device,
    outputs: PassCounter,
) -> Any:
    """ART's classifier of the authors' objective (CE + beta * L_iso per batch)."""
    if objective is None:
        raise ValueError("a paper-objective attack needs the model's beta, mode and k")
    return make_objective_classifier(
        model,
        input_dim=x_np.shape[1],
        num_classes=num_classes,
        phi_dim=int(model.features(torch.from_numpy(x_np[:1]).to(device)).shape[1]),  # type: ignore[operator]
        beta=float(objective["beta"]),
        mode=str(objective["mode"]),
        k=float(objective["k"]),
        device=device,
        outputs=outputs,
    )


def _eps0_check(
    spec: AttackSpec,
    ctx: AttackContext,
    step: float,
    probe: slice,
    x_probe: torch.Tensor,
) -> C.Check:
    """At eps = 0 the attack returns its input, on a probe of the images (or why not)."""
    if not spec.eps0_applicable:
        # ART validates eps > 0 for these and refuses to run: say so rather than pass silently.
        return C.Check(
            "eps = 0 returns the input",
            True,
            f"not applicable: {spec.eps0_skipped_because}",
        )
    clf, x_np, y_np, bs = ctx.clf, ctx.x, ctx.y, spec.batch_size
    adv0 = spec.generate(ctx, Point(eps=0.0, step=step), probe)
    return C.check_eps_zero(
        identical=bool(torch.equal(adv0, x_probe)),
        probe_correct=_art_correct(clf, adv0.numpy(), y_np[probe], bs),
        clean_correct=_art_correct(clf, x_np[probe], y_np[probe], bs),
        n=len(x_probe),
    )


def pgd_examples(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    eps: float,
    steps: int,
    restarts: int,
    seed: int,
    num_classes: int,
) -> torch.Tensor:
    """L-inf PGD examples (Madry's step 2.5 eps / steps, `restarts` random starts) on the CPU,
    for diagnostics that need adversarial inputs rather than an attack record."""
    from lilbench.attacks.base import ATTACKS, AttackContext

    spec = ATTACKS.get("pgd").from_options(eps=(eps,), steps=steps, restarts=restarts, step=None)
    clf = art_backend.make_classifier(
        model, input_dim=x.shape[1], num_classes=num_classes, device=torch.device("cpu")
    )
    ctx = AttackContext(clf, x.numpy(), y.numpy(), seed=seed, batch_size=1000)
    return spec.generate(ctx, spec.points()[0], slice(None))
