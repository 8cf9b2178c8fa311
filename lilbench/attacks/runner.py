"""Run an attack spec through ART on a model and check every result."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from art.estimators.classification import PyTorchClassifier
from torch import nn

from lilbench.attacks import art_backend as art
from lilbench.attacks import checks as C
from lilbench.attacks.faithful import PAPER_BATCH, authors_pgd_radius, make_objective_classifier
from lilbench.attacks.specs import APGD, FGSM, PGD, AttackSpec, AutoAttackSpec, Point, Square
from lilbench.errors import ConfigError
from lilbench.models.functional import count_correct

Progress = Callable[[int, int], None]
EPS0_PROBE = 256  # samples used for the eps = 0 identity check


@dataclass
class AttackOutcome:
    n: int
    clean_correct: int
    points: list[C.PointResult]
    checks: list[C.Check]
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def clean_accuracy(self) -> float:
        return self.clean_correct / self.n

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)


def _art_mask(clf: PyTorchClassifier, x: np.ndarray, y: np.ndarray, batch: int) -> np.ndarray:
    return np.asarray(clf.predict(x, batch_size=batch).argmax(1) == y)


def _art_correct(clf: PyTorchClassifier, x: np.ndarray, y: np.ndarray, batch: int) -> int:
    return int((clf.predict(x, batch_size=batch).argmax(1) == y).sum())


class _Generator:
    """Makes adversarial examples for one point; FGSM shares one gradient across the grid."""

    def __init__(
        self,
        spec: AttackSpec,
        clf: PyTorchClassifier,
        x: np.ndarray,
        y: np.ndarray,
        seed: int,
        objective_clf: PyTorchClassifier | None = None,
    ) -> None:
        self.spec, self.clf, self.x, self.y, self.seed = spec, clf, x, y, seed
        self.objective_clf = objective_clf
        self._signs: torch.Tensor | None = None
        self._img_clf: PyTorchClassifier | None = None

    def _clean_signs(self, rows: slice) -> torch.Tensor:
        """sign of the attacked loss's gradient at the clean inputs (computed once per run)."""
        if self.objective_clf is not None:
            clf, bs = self.objective_clf, PAPER_BATCH  # L_iso pairs form within the batch
        else:
            clf, bs = self.clf, self.spec.batch_size
        if rows != slice(None):
            return art.fgsm_gradient_signs(clf, self.x[rows], self.y[rows], bs)
        if self._signs is None:
            self._signs = art.fgsm_gradient_signs(clf, self.x, self.y, bs)
        return self._signs

    def __call__(self, point: Point, rows: slice = slice(None)) -> torch.Tensor:
        x, y, bs = self.x[rows], self.y[rows], self.spec.batch_size
        if isinstance(self.spec, FGSM):
            return art.fgsm_apply(torch.from_numpy(x), self._clean_signs(rows), point.eps)
        if isinstance(self.spec, PGD) and self.spec.paper_faithful:
            radius = authors_pgd_radius(eps=point.eps, step=point.step, steps=self.spec.steps)
            return art.fgsm_apply(torch.from_numpy(x), self._clean_signs(rows), radius)
        if isinstance(self.spec, PGD):
            adv = art.art_pgd(
                self.clf,
                x,
                y,
                eps=point.eps,
                step=point.step,
                steps=self.spec.steps,
                restarts=self.spec.restarts,
                batch_size=bs,
                seed=self.seed,
            )
            return torch.from_numpy(adv)
        if isinstance(self.spec, APGD):
            adv = art.art_apgd(
                self.clf,
                x,
                y,
                eps=point.eps,
                loss=self.spec.loss,
                max_iter=self.spec.max_iter,
                restarts=self.spec.restarts,
                batch_size=bs,
                seed=self.seed,
            )
            return torch.from_numpy(np.ascontiguousarray(adv, dtype=np.float32))
        if isinstance(self.spec, Square):
            adv = art.art_square(
                self.image_classifier(),
                x,
                y,
                eps=point.eps,
                max_iter=self.spec.max_iter,
                restarts=self.spec.restarts,
                batch_size=bs,
                seed=self.seed,
            )
            return torch.from_numpy(adv)
        if isinstance(self.spec, AutoAttackSpec):
            adv = art.art_autoattack(
                self.image_classifier(), x, y, eps=point.eps, batch_size=bs, seed=self.seed
            )
            return torch.from_numpy(adv)
        raise TypeError(f"no generator for {type(self.spec).__name__}")

    def image_classifier(self) -> PyTorchClassifier:
        if self._img_clf is None:
            side = round(self.x.shape[1] ** 0.5)
            if side * side != self.x.shape[1]:
                raise ConfigError(
                    f"{self.spec.name} needs square images; inputs have {self.x.shape[1]} features"
                )
            self._img_clf = art.image_classifier(
                self.clf.model, side=side, num_classes=self.clf.nb_classes, device=self.clf.device
            )
        return self._img_clf


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
) -> AttackOutcome:
    spec.validate()
    device = torch.device(device)
    t0 = time.perf_counter()
    snapshot = x.detach().cpu().clone()  # what the inputs must still be after the attack
    x_np = np.ascontiguousarray(x.detach().cpu().numpy(), dtype=np.float32)
    y_np = y.detach().cpu().numpy().astype(np.int64)
    model = model.to(device).eval()
    clf = art.make_classifier(
        model, input_dim=x_np.shape[1], num_classes=num_classes, device=device
    )
    bs = spec.batch_size
    clean_correct = _art_correct(clf, x_np, y_np, bs)
    objective_clf = None
    if spec.paper_objective:
        if objective is None:
            raise ValueError("a paper-objective attack needs the model's beta, mode and k")
        objective_clf = make_objective_classifier(
            model,
            input_dim=x_np.shape[1],
            num_classes=num_classes,
            phi_dim=int(model.features(torch.from_numpy(x_np[:1]).to(device)).shape[1]),  # type: ignore[operator]
            beta=float(objective["beta"]),
            mode=str(objective["mode"]),
            k=float(objective["k"]),
            device=device,
        )
    generate = _Generator(spec, clf, x_np, y_np, seed, objective_clf)
    x_cpu, y_dev = torch.from_numpy(x_np), torch.from_numpy(y_np).to(device)
    points: list[C.PointResult] = []
    grid = spec.points()
    attack_seconds = time.perf_counter() - t0
    check_seconds = 0.0
    for i, point in enumerate(grid):
        t1 = time.perf_counter()
        adv = generate(point)
        mask = _art_mask(clf, adv.numpy(), y_np, bs)
        t2 = time.perf_counter()
        points.append(
            C.measure_point(
                x_cpu,
                adv,
                eps=point.eps,
                step=point.step,
                correct=int(mask.sum()),
                correct_mask=mask,
                # A different code path and batch size from ART's predict, on the same examples.
                recomputed_correct=count_correct(model, adv.to(device), y_dev, 4096),
            )
        )
        attack_seconds += t2 - t1
        check_seconds += time.perf_counter() - t2
        if progress is not None:
            progress(i + 1, len(grid))
    t3 = time.perf_counter()
    probe = slice(0, min(EPS0_PROBE, len(x_np)))
    x_probe = x_cpu[probe]
    if isinstance(spec, APGD | Square | AutoAttackSpec):
        # ART validates eps > 0 for these and refuses to run: say so rather than pass silently.
        eps0 = C.Check(
            "eps = 0 returns the input",
            True,
            f"not applicable: ART's {spec.name} refuses eps = 0 up front",
        )
    else:
        adv0 = generate(Point(eps=0.0, step=grid[0].step), probe)
        eps0 = C.check_eps_zero(
            identical=bool(torch.equal(adv0, x_probe)),
            probe_correct=_art_correct(clf, adv0.numpy(), y_np[probe], bs),
            clean_correct=_art_correct(clf, x_np[probe], y_np[probe], bs),
            n=len(x_probe),
        )
    checks = [
        C.check_bounds(points),
        eps0,
        C.check_below_clean(points, clean_correct),
        C.check_recomputed(points),
        C.check_input_unchanged(bool(torch.equal(x_cpu, snapshot))),
    ]
    if spec.sweep == "eps":
        checks.append(C.check_monotone_in_eps(points))
    check_seconds += time.perf_counter() - t3
    timings = {
        "attack_seconds": attack_seconds,  # set-up, clean pass, attacks, ART's accuracy counts
        "check_seconds": check_seconds,  # bounds, recomputed accuracy, eps = 0 probe
        "total_seconds": time.perf_counter() - t0,
    }
    return AttackOutcome(
        n=len(x_np), clean_correct=clean_correct, points=points, checks=checks, timings=timings
    )
