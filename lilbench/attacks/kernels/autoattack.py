"""AutoAttack's standard version (Croce & Hein 2020), L-inf, L2 or L1 (the official code's
`norm='Linf'`, `'L2'` and `'L1'`: the same members with their steps, projections and
windows in the norm): APGD-CE, APGD-T, FAB-T, Square, in that order, each on the images
still robust; an image counts as broken when a member's point is misclassified within eps
(AutoAttack's criterion; ART's `run_attack` asks a targeted member for the target class
instead). In L1, as the official code sets its standard version, APGD-CE runs 5 restarts
and APGD-T 5 targets, both l1-APGD with the large-radius schedule (`kernels.sparse`); FAB-T
keeps 9 targets.

APGD-CE and APGD-T are ART's Auto-PGD arithmetic (`kernels.apgd`, same random starts: numpy's
global RNG seeded with the run's seed, drawn member by member and target by target as ART
would); FAB-T and Square draw nothing from numpy (FAB-T starts at the clean input; Square uses
a torch generator seeded with the run's seed).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from lilbench.attacks.kernels.apgd import apgd_iterate, random_start
from lilbench.attacks.kernels.common import Trace, passes, predict, within
from lilbench.attacks.kernels.fab import fab_targeted
from lilbench.attacks.kernels.sparse import apgd_l1
from lilbench.attacks.kernels.square import square
from lilbench.threats import ThreatModel
from lilbench.threats import threat as threat_of

MEMBERS = ("apgd-ce", "apgd-t", "fab-t", "square")
L1_RESTARTS, L1_TARGETS = 5, 5  # the official standard version's APGD settings in L1


@dataclass
class MemberLog:
    """Per member: images it broke, seconds it took, and (where the model counts them) the
    forward and backward rows it ran, in the order run."""

    broken: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    forward: dict[str, int] = field(default_factory=dict)
    backward: dict[str, int] = field(default_factory=dict)

    def add(self, name: str, model: nn.Module, t0: float, p0: tuple[int, int] | None) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - t0
        p1 = passes(model)
        if p0 is not None and p1 is not None:
            self.forward[name] = self.forward.get(name, 0) + p1[0] - p0[0]
            self.backward[name] = self.backward.get(name, 0) + p1[1] - p0[1]


def wrong_classes(model: nn.Module, x: torch.Tensor, y: torch.Tensor, k: int) -> torch.Tensor:
    """Per image, the k classes with the highest clean logits other than the label, most
    likely first (AutoAttack's targets)."""
    with torch.no_grad():
        logits = torch.cat([model(x[i : i + 1000]) for i in range(0, len(x), 1000)])
    logits[torch.arange(len(x)), y] = float("-inf")
    return torch.argsort(-logits, dim=1, stable=True)[:, :k]  # ties: lower class first, as ART


def standard_autoattack(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    eps: float,
    shape: tuple[int, int, int],
    seed: int,
    targets: int = 9,
    iterations: int = 100,
    square_queries: int = 5000,
    batch_size: int = 1000,
    log: MemberLog | None = None,
    norm: str = "inf",
    trace: Trace | None = None,
) -> torch.Tensor:
    """Adversarial examples for the flat inputs x (images of `shape`), worst case per image,
    within eps in `norm` ("inf", "2" or "1"). `trace` receives what the dense APGD members'
    iterates did (FAB-T and Square keep the best point they found, so no success of theirs is
    silent; L1's sparse APGD records no trace)."""
    model.eval()
    log = log if log is not None else MemberLog()
    np.random.seed(seed)
    gen = torch.Generator().manual_seed(seed)
    adv = x.clone()
    robust = predict(model, x) == y
    order = wrong_classes(model, x, y, min(targets, model_classes(model, x) - 1))
    sparse = threat_of(norm).p == 1

    def accept(
        name: str, idx: torch.Tensor, found: torch.Tensor, t0: float, p0: tuple[int, int] | None
    ) -> None:
        hit = (predict(model, found) != y[idx]) & within(found, x[idx], eps, norm)
        adv[idx[hit]] = found[hit]
        robust[idx[hit]] = False
        log.broken[name] = log.broken.get(name, 0) + int(hit.sum())
        log.add(name, model, t0, p0)

    def apgd_member(name: str, labels: torch.Tensor | None) -> None:
        t0, p0 = time.perf_counter(), passes(model)
        idx = robust.nonzero()[:, 0]
        if not len(idx):
            return
        x0 = x[idx]
        start = random_start(x0, x0, eps, norm)
        groups = [min(batch_size, len(idx) - i) for i in range(0, len(idx), batch_size)]
        observe: dict[str, torch.Tensor] | None = {} if trace is not None else None
        found = apgd_iterate(
            model,
            x0,
            start,
            y[idx] if labels is None else labels[idx],
            groups,
            eps=eps,
            eps_step=2 * eps,
            max_iter=iterations,
            loss="ce" if labels is None else "dlr",
            targeted=labels is not None,
            norm=norm,
            observe=observe,
            truth=y[idx],
        )
        if trace is not None and observe is not None:
            trace.add(idx, **observe, loss="ce" if labels is None else "dlr")
        accept(name, idx, found, t0, p0)

    if sparse:
        sparse_apgd_members(
            model, x, y, threat_of(norm), adv, robust, log, order[:, :L1_TARGETS],
            eps=eps, restarts=L1_RESTARTS, iterations=iterations, batch_size=batch_size,
            generator=torch.Generator(device=x.device).manual_seed(seed),
        )  # fmt: skip
    else:
        apgd_member("apgd-ce", None)
        for k in range(order.shape[1]):
            apgd_member("apgd-t", order[:, k])
    for k in range(order.shape[1]):
        t0, p0 = time.perf_counter(), passes(model)
        idx = robust.nonzero()[:, 0]
        if not len(idx):
            break
        found, _ = fab_targeted(
            model, x[idx], y[idx], order[idx, k], max_iter=iterations, norm=norm
        )
        accept("fab-t", idx, found, t0, p0)
    t0, p0 = time.perf_counter(), passes(model)
    idx = robust.nonzero()[:, 0]
    if len(idx):
        found = square(
            model,
            x[idx],
            y[idx],
            eps=eps,
            shape=shape,
            queries=square_queries,
            generator=gen,
            norm=norm,
        )
        accept("square", idx, found, t0, p0)
    return adv


def model_classes(model: nn.Module, x: torch.Tensor) -> int:
    with torch.no_grad():
        return int(model(x[:1]).shape[1])


def apgd_autoattack(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    threat: ThreatModel,
    *,
    eps: float,
    seed: int,
    targets: int = 9,
    iterations: int = 100,
    batch_size: int = 1000,
    log: MemberLog | None = None,
) -> torch.Tensor:
    """AutoAttack's APGD members alone in L1 (version "apgd"): APGD-CE (one start), then
    APGD-T toward each of the `targets` most likely wrong classes, each on the images still
    robust, with the sparse step and large-radius schedule (`kernels.sparse`). An image
    counts as broken when a member's point is misclassified within eps."""
    model.eval()
    log = log if log is not None else MemberLog()
    adv = x.clone()
    robust = predict(model, x) == y
    order = wrong_classes(model, x, y, min(targets, model_classes(model, x) - 1))
    sparse_apgd_members(
        model, x, y, threat, adv, robust, log, order, eps=eps, restarts=1,
        iterations=iterations, batch_size=batch_size,
        generator=torch.Generator(device=x.device).manual_seed(seed),
    )  # fmt: skip
    return adv


def sparse_apgd_members(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    threat: ThreatModel,
    adv: torch.Tensor,
    robust: torch.Tensor,
    log: MemberLog,
    order: torch.Tensor,
    *,
    eps: float,
    restarts: int,
    iterations: int,
    batch_size: int,
    generator: torch.Generator,
) -> None:
    """APGD-CE (`restarts` starts, each on the images still robust) and APGD-T toward each
    column of `order`, on l1-APGD; broken images' points into `adv`, `robust` updated."""

    def member(name: str, aim: torch.Tensor | None) -> None:
        t0, p0 = time.perf_counter(), passes(model)
        idx = robust.nonzero()[:, 0]
        for lo in range(0, len(idx), batch_size):
            rows = idx[lo : lo + batch_size]
            found, _ = apgd_l1(
                model,
                x[rows],
                y[rows],
                threat,
                eps=eps,
                iterations=iterations,
                loss="ce" if aim is None else "dlr",
                target=None if aim is None else aim[rows],
                generator=generator,
            )
            inside = threat.distance(found, x[rows]) <= eps * (1 + 1e-6)
            hit = (predict(model, found) != y[rows]) & inside
            adv[rows[hit]] = found[hit]
            robust[rows[hit]] = False
            log.broken[name] = log.broken.get(name, 0) + int(hit.sum())
        log.add(name, model, t0, p0)

    for _ in range(restarts):
        member("apgd-ce", None)
    for k in range(order.shape[1]):
        member("apgd-t", order[:, k])
