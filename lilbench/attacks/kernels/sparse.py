"""Attacks in any threat model's ball through its own projection and steepest-ascent step
(`lilbench.threats`): FGSM and PGD where ART has no such norm (L1), and l1-APGD (Croce &
Hein 2021, "Mind the box"), written from the paper and the facts of the official code's
L1 run: a sparse step along the top-k of the gradient's magnitude, k adapted at every
checkpoint to the sparsity of the best point so far, the step size reset where the
sparsity fell by 5% and cut by 1.5 elsewhere (between eps / 10 and eps), the exact
projection onto the ball intersected with [0, 1], and the large-radius schedule (3 eps,
2 eps, then eps over 30% / 30% / 40% of the iterations, from a random start in the 3 eps
ball). Everything in torch, on the model's device; random draws from a seeded generator.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from lilbench.threats import ThreatModel
from lilbench.threats.l1 import sorted_values

Loss = Callable[[torch.Tensor, torch.Tensor, torch.Tensor | None], torch.Tensor]


def _ce(logits: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None) -> torch.Tensor:
    return F.cross_entropy(logits, y, reduction="none")


def _dlr(logits: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None) -> torch.Tensor:
    """Difference of logits ratio (Croce & Hein 2020): untargeted, or toward `target`."""
    ordered = logits.sort(dim=1).values
    own = logits.gather(1, y[:, None])[:, 0]
    if target is None:
        other = logits.scatter(1, y[:, None], float("-inf")).amax(1)
        return -(own - other) / (ordered[:, -1] - ordered[:, -3] + 1e-12)
    aim = logits.gather(1, target[:, None])[:, 0]
    spread = ordered[:, -1] - 0.5 * (ordered[:, -3] + ordered[:, -4]) + 1e-12
    return -(own - aim) / spread


LOSSES: dict[str, Loss] = {"ce": _ce, "dlr": _dlr}


def _loss_grad(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss: Loss, target: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-row losses, their gradient, and whether each row is still classified as y."""
    xg = x.detach().requires_grad_(True)
    with torch.enable_grad():
        logits = model(xg)
        values = loss(logits, y, target)
        (grad,) = torch.autograd.grad(values.sum(), xg)
    return values.detach(), grad.detach(), logits.detach().argmax(1) == y


def pgd(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    threat: ThreatModel,
    *,
    eps: float,
    step: float,
    steps: int,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """PGD on cross-entropy along the threat model's steepest-ascent direction, projected
    back onto ball and box after every step; from a random start when a generator is given
    (else the clean input). steps = 1, step = eps, no start: FGSM. The last iterate."""
    adv = x.clone() if generator is None else threat.random_start(x, eps, generator)
    for _ in range(steps):
        _, grad, _ = _loss_grad(model, adv, y, _ce, None)
        moved = adv + step * threat.ascent(grad)
        adv = x + threat.project(moved - x, x, eps)
    return adv.detach()


def _l0(delta: torch.Tensor) -> torch.Tensor:
    return (delta.reshape(len(delta), -1) != 0).sum(1).double()


def _sparse_step(grad: torch.Tensor, topk: torch.Tensor) -> torch.Tensor:
    """Unit-L1 direction on the coordinates whose |gradient| reaches the (1 - topk)
    quantile of each row: the signs there, divided by their count."""
    flat = grad.reshape(len(grad), -1)
    d = flat.shape[1]
    index = ((1.0 - topk) * d).clamp(0, d - 1).long()
    threshold = sorted_values(flat.abs()).gather(1, index[:, None])
    signs = (flat * (flat.abs() >= threshold)).sign()
    return (signs / (signs.abs().sum(1, keepdim=True) + 1e-10)).reshape(grad.shape)


def apgd_l1_run(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    threat: ThreatModel,
    *,
    eps: float,
    iterations: int,
    start: torch.Tensor,
    loss: Loss,
    target: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One l1-APGD run from `start` (inside the eps ball): (the highest-loss point, whether
    each row is still robust, the last misclassified point found per row)."""
    n, d = len(x), x[0].numel()
    shape = (n, *([1] * (x.dim() - 1)))
    adv = start.clone()
    values, grad, robust = _loss_grad(model, adv, y, loss, target)
    best, best_loss, best_grad = adv.clone(), values.clone(), grad.clone()
    broken = adv.clone()
    alpha = 1.0  # the official code's L1 step factor
    step = torch.full((n,), alpha * eps, dtype=x.dtype, device=x.device)
    sparsity = _l0(adv - x)
    # from a perturbed start, k follows its sparsity; from the clean input, 20% of the pixels
    topk = torch.where(sparsity > 0, sparsity / d / 1.5, torch.full_like(sparsity, 0.2))
    previous = torch.where(sparsity > 0, sparsity, torch.full_like(sparsity, float(d)))
    every = max(int(0.04 * iterations), 1)
    for i in range(iterations):
        moved = adv + step.reshape(shape) * _sparse_step(grad, topk)
        adv = x + threat.project(moved - x, x, eps)
        values, grad, still = _loss_grad(model, adv, y, loss, target)
        newly = ~still
        broken[newly] = adv[newly]
        robust &= still
        better = values > best_loss
        best[better], best_grad[better], best_loss[better] = (
            adv[better],
            grad[better],
            values[better],
        )
        if (i + 1) % every == 0:
            now = _l0(best - x)
            sparser = (now / previous) < 0.95
            topk = now / d / 1.5
            step = torch.where(sparser, torch.full_like(step, alpha * eps), step / 1.5)
            step = step.clamp(alpha * eps / 10, alpha * eps)
            previous = now
            adv[sparser], grad[sparser] = best[sparser], best_grad[sparser]
    return best, robust, broken


def apgd_l1(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    threat: ThreatModel,
    *,
    eps: float,
    iterations: int = 100,
    loss: str = "ce",
    target: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """l1-APGD with the large-radius schedule: (per row the misclassified point found at
    eps, or the clean input; whether the row is still robust at eps)."""
    fn = LOSSES[loss]
    plan = [(3 * eps, math.ceil(0.3 * iterations)), (2 * eps, math.ceil(0.3 * iterations))]
    plan.append((eps, iterations - plan[0][1] - plan[1][1]))
    noise = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
    point = x + threat.project(noise, x, plan[0][0])
    robust = torch.ones(len(x), dtype=torch.bool, device=x.device)
    broken = x.clone()
    for radius, count in plan:
        if count < 1:
            continue
        point = x + threat.project(point - x, x, radius)
        point, robust, broken = apgd_l1_run(
            model, x, y, threat, eps=radius, iterations=count, start=point, loss=fn, target=target
        )
    out = torch.where(robust.reshape(-1, *([1] * (x.dim() - 1))), x, broken)
    return out, robust
