"""Auto-PGD (Croce & Hein 2020), L-inf and L2, in ART's arithmetic (ART 1.20's
`AutoProjectedGradientDescent`), without ART's bookkeeping.

Per step ART computes the loss gradient at x_k and, in a second pass, the loss at x_k+1; here
one pass at x_k+1 gives both (the gradient serves the next step), and a checkpoint that moves
rows back to their best point recomputes it. Everything else is ART's: the random start from
numpy's global RNG, the gradient of the batch's *mean* loss (its sign can differ from the
sum's where a tiny gradient underflows), float32 steps, the float64 projection (as a float32
clamp, which equals it), checkpoints and step halving, the last iterate as the result.
A test checks the output is bit-identical to ART's on the same seed.

L2 (norm "2"): the step is the gradient over its L2 norm (plus ART's 1e-7), the projection
`art.utils.projection`'s arithmetic (a rescaling onto the ball, float64 factors), applied to
the same float32 arrays in the same order, so the floats are ART's on the CPU too; on another
device the same formulas run in torch (not bit-checked).

Several independent problems (ART's batches) run side by side: each is evaluated in its own
batch and keeps its own early stop, as if run alone.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from art.utils import random_sphere
from torch import nn

from lilbench.attacks.kernels import apgd_kernel
from lilbench.attacks.kernels.common import Trace, eps32, euclidean, incomplete, predict

Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
TOL = 10e-8  # ART's guard in the L2 step's division (1e-7)


def dlr_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """ART's difference-of-logits-ratio loss per row: -(z_y - z_i) / (z_1 - z_3), z_i the
    largest logit other than the label's (targeted: y is the target)."""
    top = logits.topk(3, dim=1)
    z1, z2, z3 = top.values[:, 0], top.values[:, 1], top.values[:, 2]
    zi = torch.where(top.indices[:, 0] != labels, z1, z2)
    zy = logits.gather(1, labels[:, None])[:, 0]
    return -(zy - zi) / (z1 - z3)


def ce_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits, labels, reduction="none")


LOSSES: dict[str, Loss] = {"ce": ce_loss, "dlr": dlr_loss}


def checkpoints(max_iter: int) -> list[int]:
    """APGD's step-size checkpoints, as ART computes them."""
    w = [0.0, 0.22]
    while (nxt := w[-1] + max(w[-1] - w[-2] - 0.03, 0.06)) <= 1:
        w.append(nxt)
    return [math.ceil(p * max_iter) for p in w]


def apgd_iterate(
    model: nn.Module,
    x_init: torch.Tensor,
    x_start: torch.Tensor,
    labels: torch.Tensor,
    groups: list[int],
    *,
    eps: float,
    eps_step: float,
    max_iter: int,
    loss: str,
    targeted: bool,
    compiled: bool | None = None,
    norm: str = "inf",
    observe: dict[str, torch.Tensor] | None = None,
    truth: torch.Tensor | None = None,
) -> torch.Tensor:
    """The last iterate of ART's APGD loop for the stacked rows; `groups` are the row counts
    of the consecutive problems (each ART batch on its own). `compiled`: the L-inf step as
    one numba pass (default on the CPU) or as torch's operations; the same floats either
    way. `norm`: "inf" or "2". `observe`, when given, receives per row: "adversarial" (some
    evaluated iterate misclassified against `truth`, default the labels), "zero_gradient"
    and "incomplete" (see `Trace`); the iterates are the same either way."""
    n = len(x_init)
    dev = x_init.device
    compiled = dev.type == "cpu" if compiled is None else compiled
    x_init = x_init.contiguous()
    loss_fn = LOSSES[loss]
    sizes = torch.tensor(groups, device=dev)
    gid = torch.arange(len(groups), device=dev).repeat_interleave(sizes)
    bounds = np.cumsum([0, *groups])
    e = eps32(eps)
    direction = -1.0 if targeted else 1.0

    truth = labels if truth is None else truth
    seen = torch.zeros(n, dtype=torch.bool, device=dev)  # some iterate misclassified

    def evaluate(xk: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Losses and the gradient of each problem's mean loss, problem by problem: ART's
        batch shapes, since a matrix product's rows can round differently in another."""
        fs, gs, preds = [], [], []
        for lo, hi in itertools.pairwise(bounds):
            xg = xk[lo:hi].detach().requires_grad_(True)
            logits = model(xg)
            f = loss_fn(logits, labels[lo:hi])
            (g,) = torch.autograd.grad(f.mean(), xg)
            fs.append(f.detach())
            gs.append(g)
            preds.append(logits.detach().argmax(1))
        if observe is not None:
            seen.logical_or_(torch.cat(preds) != truth)
        return torch.cat(fs), torch.cat(gs)

    def project(z: torch.Tensor) -> torch.Tensor:
        if euclidean(norm):
            return x_init + l2_project(z - x_init, eps)
        return (z - x_init).clamp_(-e, e).add_(x_init)

    def ascent(grad: torch.Tensor) -> torch.Tensor:
        """The step's direction: the gradient's sign (L-inf) or over its L2 norm."""
        if euclidean(norm):
            g = grad * direction
            return g / ((g * g).sum(1, keepdim=True).sqrt() + TOL)
        return (direction * grad).sign()

    def momentum(
        x_k: torch.Tensor, x_km1: torch.Tensor, grad: torch.Tensor, eta: torch.Tensor
    ) -> torch.Tensor:
        """ART's step: sign step, clip, project, momentum 0.75, clip, project."""
        if euclidean(norm) and dev.type == "cpu":
            return torch.from_numpy(
                l2_momentum(
                    x_k.numpy(),
                    x_km1.numpy(),
                    x_init.numpy(),
                    grad.numpy(),
                    eta.numpy(),
                    eps,
                    direction,
                )
            )
        if compiled and not euclidean(norm):
            out = np.empty(x_k.shape, dtype=np.float32)
            apgd_kernel.momentum_step(
                x_k.numpy(),
                x_km1.numpy(),
                x_init.numpy(),
                grad.numpy(),
                eta.numpy()[:, 0],
                direction,
                e,
                out,
            )
            return torch.from_numpy(out)
        z = project((x_k + eta * ascent(grad)).clamp(0.0, 1.0))
        return project((x_k + 0.75 * (z - x_k) + 0.25 * (x_k - x_km1)).clamp_(0.0, 1.0))

    var_w = checkpoints(max_iter)
    eta = torch.full((n, 1), float(np.float32(eps_step)), device=dev)
    count = torch.zeros(n, dtype=torch.float64, device=dev)
    live = torch.ones(n, dtype=torch.bool, device=dev)  # rows of problems not yet stopped
    x_k = x_start.clone()
    f_0, grad = evaluate(x_k)
    if observe is not None:
        flat = grad.reshape(n, -1)
        observe["zero_gradient"] = (flat == 0).all(1) | ~torch.isfinite(flat).all(1)
    x_km1 = x_max = x_max_m1 = x_k
    f_max = f_max_w = f_0
    curve = [f_0]
    eta_w = eta.clone()
    for k in range(max_iter):
        if k == 0:
            if euclidean(norm) and dev.type == "cpu":
                x_1 = torch.from_numpy(
                    l2_first(x_k.numpy(), x_init.numpy(), grad.numpy(), eta.numpy(), eps, direction)
                )
            else:
                x_1 = project((x_k + eta * ascent(grad)).clamp(0.0, 1.0))
            f_1, grad = evaluate(x_1)
            up = f_1 >= f_0  # ART compares so even when targeted
            f_max = torch.where(up, f_1, f_0)
            f_max_w = f_0
            x_max = torch.where(up[:, None], x_1, x_k)
            x_max_m1 = x_init.clone()  # distinct tensors: rows are copied into them in place
            count += up
            x_km1, x_k = x_k, x_1
            curve.append(f_max)
            continue
        x_new = momentum(x_k, x_km1, grad, eta)
        f, grad_new = evaluate(x_new)
        # ART stops a problem whose every loss is exactly 0, keeping x_k+1.
        zero = torch.zeros(len(groups), dtype=torch.long, device=dev)
        zero.index_add_(0, gid, (f != 0).long())
        stop = live & (zero == 0)[gid]
        if stop.any():
            x_k = torch.where(stop[:, None], x_new, x_k)  # rare: a new tensor is fine
            live &= ~stop
            if not live.any():
                break
        better = ((f < f_max) if targeted else (f > f_max)) & live
        count += better
        rows = better.nonzero()[:, 0]  # row copies, not full-size selects: most of a step
        x_max[rows] = x_new[rows]
        x_max_m1[rows] = x_k[rows]
        f_max = torch.where(better, f, f_max)
        curve.append(f_max)
        if bool(live.all()):
            x_km1, x_k = x_k, x_new
        else:
            rows = live.nonzero()[:, 0]
            x_km1[rows] = x_k[rows]
            x_k[rows] = x_new[rows]
        grad = grad_new
        if k in var_w:
            prev = var_w[var_w.index(k) - 1]
            cond = (count < 0.75 * (k - prev)) | ((eta_w == eta)[:, 0] & (f_max_w == f_max))
            cond &= live
            eta = torch.where(cond[:, None], eta / 2, eta)
            rows = cond.nonzero()[:, 0]
            x_k[rows] = x_max[rows]
            x_km1[rows] = x_max_m1[rows]
            count = torch.where(live, 0.0, count)
            eta_w, f_max_w = eta.clone(), f_max
            if len(rows):  # moved rows need the gradient at their new point
                _, grad = evaluate(x_k)
    if observe is not None:
        observe["adversarial"] = seen
        observe["incomplete"] = incomplete(curve, maximise=not targeted)
    return x_k.detach()


def _projection(v: np.ndarray, eps: float) -> np.ndarray:
    """`art.utils.projection(v, eps, 2)` for float32 rows, the same floats without its
    full-size float64 eps array: the row's norm in float32 (numpy's, as ART), the factor
    min(1, eps / norm) in float64, the product in float64 cast to float32."""
    norm = np.linalg.norm(v, ord=2, axis=1, keepdims=True)
    with np.errstate(divide="ignore"):
        factor = np.where(norm, np.minimum(1, eps / norm.astype(np.float64)), 0)
    return (v * factor).astype(v.dtype)


def l2_project(v: torch.Tensor, eps: float) -> torch.Tensor:
    """ART's L2 projection of the rows of v onto the eps ball (rescaling; float64 factors)."""
    if v.device.type == "cpu":
        return torch.from_numpy(_projection(v.numpy(), eps))
    n = v.double().norm(dim=1, keepdim=True)
    scale = torch.where(n > 0, (eps / n).clamp(max=1.0), torch.zeros_like(n))
    return (v.double() * scale).float()


def _l2_dir(grad: np.ndarray, direction: float) -> np.ndarray:
    g = grad * np.float32(direction)  # ART: the gradient times (1 - 2 * targeted)
    return g / (np.sqrt(np.sum(np.square(g), axis=1, keepdims=True)) + TOL)


def l2_first(
    x_k: np.ndarray, x_init: np.ndarray, grad: np.ndarray, eta: np.ndarray, eps: float, d: float
) -> np.ndarray:
    """ART's first L2 step in numpy, operation for operation: step, clip, project."""
    z = np.clip(x_k + eta * _l2_dir(grad, d), 0.0, 1.0)
    return x_init + _projection(z - x_init, eps)


def l2_momentum(
    x_k: np.ndarray,
    x_km1: np.ndarray,
    x_init: np.ndarray,
    grad: np.ndarray,
    eta: np.ndarray,
    eps: float,
    d: float,
) -> np.ndarray:
    """ART's later L2 steps in numpy, operation for operation: step, clip, project,
    momentum 0.75, clip, project."""
    z = np.clip(x_k + eta * _l2_dir(grad, d), 0.0, 1.0)
    z = x_init + _projection(z - x_init, eps)
    alpha = 0.75
    x_new = np.clip(x_k + alpha * (z - x_k) + (1 - alpha) * (x_k - x_km1), 0.0, 1.0)
    return x_init + _projection(x_new - x_init, eps)


def random_start(
    base: torch.Tensor, x: torch.Tensor, eps: float, norm: str = "inf"
) -> torch.Tensor:
    """ART's random start: `base` plus uniform noise in the eps ball (numpy's global RNG,
    float64 drawn, float32 kept), clipped to [0, 1], projected onto the ball around x."""
    dims = int(np.prod(x.shape[1:]))
    noise = random_sphere(len(x), dims, eps, 2 if euclidean(norm) else np.inf).astype(np.float32)
    start = (base + torch.from_numpy(noise).reshape(x.shape).to(x.device)).clamp(0.0, 1.0)
    if euclidean(norm):
        return x + l2_project(start - x, eps)
    e = eps32(eps)
    return x + (start - x).clamp(-e, e)


def apgd(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    eps: float,
    loss: str = "ce",
    max_iter: int = 100,
    restarts: int = 1,
    batch_size: int = 1000,
    targeted: bool = False,
    eps_step: float | None = None,
    compiled: bool | None = None,
    norm: str = "inf",
    trace: Trace | None = None,
) -> torch.Tensor:
    """ART's `AutoProjectedGradientDescent(norm=inf or 2).generate(x, y)` with y the labels
    (the targets when targeted); the caller seeds numpy's global RNG, as for ART. `trace`
    (untargeted only) receives what the iterates of every start did, per image."""
    model.eval()
    step = 2.0 * eps if eps_step is None else eps_step
    x_adv = x.clone()
    for _ in range(max(1, restarts)):
        pred = predict(model, x_adv)
        robust = (pred != y) if targeted else (pred == y)
        if not robust.any():
            break
        idx = robust.nonzero()[:, 0]
        x_init, labels = x[idx], y[idx]
        x_rob = random_start(x_adv[idx], x_init, eps, norm)  # ART: from the previous start
        groups = [min(batch_size, len(idx) - i) for i in range(0, len(idx), batch_size)]
        observe: dict[str, torch.Tensor] | None = {} if trace is not None else None
        x_k = apgd_iterate(
            model,
            x_init,
            x_rob,
            labels,
            groups,
            eps=eps,
            eps_step=step,
            max_iter=max_iter,
            loss=loss,
            targeted=targeted,
            compiled=compiled,
            norm=norm,
            observe=observe,
        )
        if trace is not None and observe is not None and not targeted:
            trace.add(idx, **observe, loss=loss)
        starts = np.cumsum([0, *groups])[:-1]
        done = torch.cat(
            [predict(model, x_k[i : i + g]) for i, g in zip(starts, groups, strict=True)]
        )
        hit = (done == labels) if targeted else (done != labels)
        x_rob[hit] = x_k[hit]
        x_adv[idx] = x_rob
    return x_adv


def apgd_arrays(
    model: nn.Module,
    x: np.ndarray,
    y: np.ndarray,
    *,
    eps: float,
    loss: str,
    max_iter: int,
    restarts: int,
    batch_size: int,
    seed: int,
    norm: str = "inf",
    trace: Trace | None = None,
) -> np.ndarray:
    """`apgd` on numpy arrays, seeded as ART's Auto-PGD is seeded (`tests/oracles.art_apgd`), on the
    model's device; float32 out."""
    dev = next(iter(model.parameters()), torch.empty(0)).device
    np.random.seed(seed)
    adv = apgd(
        model,
        torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(dev),
        torch.from_numpy(np.asarray(y, dtype=np.int64)).to(dev),
        eps=eps,
        loss=loss,
        max_iter=max_iter,
        restarts=restarts,
        batch_size=batch_size,
        norm=norm,
        trace=trace,
    )
    return np.ascontiguousarray(adv.cpu().numpy(), dtype=np.float32)
