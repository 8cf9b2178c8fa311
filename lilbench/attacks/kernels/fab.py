"""FAB-T, L-inf and L2 (Croce & Hein 2020, "Minimally distorted adversarial examples with a fast
adaptive boundary attack"), as AutoAttack's standard version runs it: one start at the clean
input, 100 iterations, eta 1.05, beta 0.9, alpha_max 0.1, per target class.

Each iteration linearises g = z_y - z_t at the current point, projects both the current point
and the clean input onto the hyperplane g = 0 inside the box [0, 1] (the smallest L-inf step
to it), moves to a convex combination of the two projections weighted towards the clean input
by how far each is, and, when the point is adversarial, keeps it if it is the closest so far
and steps back towards the clean input by beta. Written here from the paper (ART has no FAB).

L2 and L1 change the projection (the smallest L2 or L1 step to the hyperplane inside the
box, `project_to_hyperplane_l2` and `_l1`) and every distance (the mix's weights, the
closest point); on the CPU every norm runs as numba kernels (`fab_kernel`), elsewhere in
torch.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from lilbench.attacks.kernels import fab_kernel
from lilbench.attacks.kernels.common import distance
from lilbench.threats import threat

NEWTON_STEPS = 30  # a cap; Newton's method stops on the exact segment in a few (tested)


def project_to_hyperplane(
    p: torch.Tensor, w: torch.Tensor, b: torch.Tensor, warm: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per row, the step d of smallest L-inf norm with w . (p + d) = b and p + d in [0, 1]
    (where none exists, the step that moves w . p furthest towards b), and that norm.

    With c = b - w . p, the largest change of w . p within norm e is h(e) = sum_i |w_i|
    min(e, room_i) (room_i: how far p_i can move in the helpful direction), concave and
    piecewise linear. Newton's method finds the e with h(e) = |c|: from any start its first
    step lands at or below the root (a tangent of a concave function lies above it) and from
    there it climbs to the root's segment and stops on it. `warm` (the last norms of the same
    rows) saves most steps. Full-size elementwise passes only, no sort (a sort of every row
    costs about 60 us here) and no boolean masks (torch.where is ~8 ns an element here).
    """
    c = b - (w * p).sum(1)
    q = w.sign().mul_(c.sign()[:, None])  # +1: moving up helps; -1: down; 0: no effect
    room = (0.5 - p).mul_(q).add_(0.5)  # 1 - p where q > 0, p where q < 0
    a = w.abs()
    total = a.sum(1)
    reach = (a * room).sum(1)  # h at its largest
    need = c.abs()
    cold = need / total.clamp_min(1e-30)
    feasible = reach >= need
    one = torch.ones_like(cold)
    e = torch.where(feasible, cold if warm is None else warm, one)  # out of reach: all rooms
    for _ in range(NEWTON_STEPS):
        # h straight from min(room, e): reach - sum |w| (room - e)+ cancels badly for small e.
        h = (a * room.clamp(max=e[:, None])).sum(1)
        slope = (a * (room - e[:, None]).sign_().clamp_(min=0.0)).sum(1)  # sum over room > e
        e_new = torch.where(slope > 0, e + (need - h) / slope.clamp_min(1e-30), cold)
        e_new = torch.where(h >= need, torch.minimum(e_new, e), e_new)  # from above: down
        e_new = torch.where(feasible, e_new, one)
        done = bool(((e_new - e).abs() <= 1e-6 * e.abs() + 1e-12).all())  # a few ulps
        e = e_new
        if done:
            break
    return q.mul_(room.clamp_(max=e[:, None])), e


def project_to_hyperplane_l2(
    p: torch.Tensor, w: torch.Tensor, b: torch.Tensor, warm: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per row, the step d of smallest L2 norm with w . (p + d) = b and p + d in [0, 1]
    (where none exists, the step that moves w . p furthest towards b), and the multiplier.

    The box-constrained minimum has d_i = q_i min(lam |w_i|, room_i) for one lam >= 0 (the
    KKT conditions: the unconstrained step lam w, each coordinate stopped at its wall), and
    h(lam) = sum_i |w_i| min(lam |w_i|, room_i) is concave and piecewise linear like the
    L-inf case's h, so the same Newton iteration finds lam with h(lam) = |c|; its cold start,
    the step without walls, lies at or below the root.
    """
    c = b - (w * p).sum(1)
    q = w.sign().mul_(c.sign()[:, None])
    room = (0.5 - p).mul_(q).add_(0.5)
    a = w.abs()
    a2 = a * a
    need = c.abs()
    cold = need / a2.sum(1).clamp_min(1e-30)
    feasible = (a * room).sum(1) >= need
    lam = cold if warm is None else torch.where(warm > 0, warm, cold)
    for _ in range(NEWTON_STEPS):
        reached = lam[:, None] * a
        h = (a * torch.minimum(reached, room)).sum(1)
        slope = (a2 * (reached < room)).sum(1)
        new = torch.where(slope > 0, lam + (need - h) / slope.clamp_min(1e-30), lam)
        new = torch.where(h >= need, torch.minimum(new, lam), new)  # from above: down
        done = bool(((new - lam).abs() <= 1e-6 * lam.abs() + 1e-12).all())
        lam = new
        if done:
            break
    step = torch.where(feasible[:, None], torch.minimum(lam[:, None] * a, room), room)
    return q.mul_(step), torch.where(feasible, lam, torch.zeros_like(lam))


def project_to_hyperplane_l1(
    p: torch.Tensor, w: torch.Tensor, b: torch.Tensor, warm: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per row, the step d of smallest L1 norm with w . (p + d) = b and p + d in [0, 1]
    (where none exists, every coordinate to its wall), and zeros (nothing to warm-start).

    Moving coordinate i by t changes w . p by |w_i| t: a fractional knapsack, solved by
    moving the coordinates in decreasing |w_i| each to its wall until the gap closes, the
    last one part of the way (the official FAB's `projection_l1` solves the same problem)."""
    c = b - (w * p).sum(1)
    q = w.sign().mul_(c.sign()[:, None])
    room = (0.5 - p).mul_(q).add_(0.5)
    a = w.abs()
    need = c.abs()
    order = torch.argsort(a, dim=1, descending=True, stable=True)
    a_s, room_s = a.gather(1, order), room.gather(1, order)
    gain = a_s * room_s
    before = gain.cumsum(1) - gain  # what the coordinates ahead of each close
    full = before + gain <= need[:, None]
    part = ((need[:, None] - before) / a_s.clamp_min(1e-30)).clamp(min=0.0)
    step_s = torch.where(full, room_s, torch.minimum(part, room_s))
    step_s = torch.where(a_s > 0, step_s, torch.zeros_like(step_s))
    step = torch.empty_like(step_s).scatter_(1, order, step_s)
    feasible = gain.sum(1) >= need
    step = torch.where(feasible[:, None], step, room)
    return q.mul_(step), torch.zeros_like(need)


# by the threat model's p: the torch projection, and the numba move and step back
PROJECTIONS = {
    math.inf: project_to_hyperplane,
    2.0: project_to_hyperplane_l2,
    1.0: project_to_hyperplane_l1,
}
KINDS = {math.inf: fab_kernel.LINF, 2.0: fab_kernel.L2, 1.0: fab_kernel.L1}


def torch_step(
    x1: torch.Tensor,
    x0: torch.Tensor,
    w: torch.Tensor,
    g: torch.Tensor,
    warm: torch.Tensor | None,
    *,
    eta: float,
    alpha_max: float,
    norm: str = "inf",
) -> tuple[torch.Tensor, torch.Tensor]:
    """One FAB move of every row (any device): (the new points, the two projections' norms
    (L2: multipliers) stacked, for the next warm start)."""
    n = len(x1)
    b = (w * x1).sum(1) - g
    d, e = PROJECTIONS[threat(norm).p](
        torch.cat((x1, x0)), torch.cat((w, w)), torch.cat((b, b)), warm
    )
    d1, d0 = d[:n], d[n:]
    n1 = distance(d1, torch.zeros_like(d1), norm)[:, None].clamp_min(1e-8)
    n0 = distance(d0, torch.zeros_like(d0), norm)[:, None].clamp_min(1e-8)
    alpha = (n1 / (n1 + n0)).clamp(0.0, alpha_max)
    return ((x1 + eta * d1) * (1 - alpha) + (x0 + eta * d0) * alpha).clamp(0.0, 1.0), e


def compiled_step(
    x1: torch.Tensor,
    x0: torch.Tensor,
    w: torch.Tensor,
    g: torch.Tensor,
    warm: torch.Tensor | None,
    *,
    eta: float,
    alpha_max: float,
    norm: str = "inf",
) -> tuple[torch.Tensor, torch.Tensor]:
    """`torch_step` on the CPU as one compiled pass per row (numba): the same maths with
    float64 sums, about ten times faster than torch's separate elementwise passes."""
    n = len(x1)
    out = np.empty((n, x1.shape[1]), dtype=np.float32)
    e = np.zeros(2 * n) if warm is None else warm.numpy().astype(np.float64)
    x1n, x0n, gn = x1.numpy(), x0.numpy(), g.numpy().astype(np.float64)
    fab_kernel.move(KINDS[threat(norm).p], x1n, x0n, w.numpy(), gn, e, eta, alpha_max, out)
    return torch.from_numpy(out), torch.from_numpy(e)


def fab_targeted(
    model: nn.Module,
    x0: torch.Tensor,
    y: torch.Tensor,
    target: torch.Tensor,
    *,
    max_iter: int = 100,
    eta: float = 1.05,
    beta: float = 0.9,
    alpha_max: float = 0.1,
    compiled: bool | None = None,
    norm: str = "inf",
) -> tuple[torch.Tensor, torch.Tensor]:
    """(the closest adversarial point found per row, its distance in `norm` ("inf", "2" or
    "1"); inf where none). `compiled`: the numba L-inf step (default on the CPU) or torch's."""
    model.eval()
    n = len(x0)
    dev = x0.device
    step = compiled_step if (dev.type == "cpu" if compiled is None else compiled) else torch_step
    x0 = x0.contiguous()

    Lin = tuple[torch.Tensor, torch.Tensor, torch.Tensor]

    def linearise(z: torch.Tensor, r: torch.Tensor) -> Lin:
        """(logits, g = z_y - z_t, its gradient) at the points z of rows r."""
        zg = z.detach().requires_grad_(True)
        logits = model(zg)
        at = torch.arange(len(r), device=dev)
        g = logits[at, y[r]] - logits[at, target[r]]
        (grad,) = torch.autograd.grad(g.sum(), zg)
        return logits.detach(), g.detach(), grad

    x1 = x0.clone()
    best = torch.full((n,), float("inf"), device=dev)
    adv = x0.clone()
    every = torch.arange(n, device=dev)
    _, g, w = linearise(x1, every)
    warm: torch.Tensor | None = None  # Newton converges from any start: always warm
    share = 0.0  # adversarial share of the last move
    for _ in range(max_iter):
        with torch.no_grad():
            if step is compiled_step:
                x1, warm = compiled_step(
                    x1, x0, w, g, warm, eta=eta, alpha_max=alpha_max, norm=norm
                )
            else:
                x1, warm = torch_step(x1, x0, w, g, warm, eta=eta, alpha_max=alpha_max, norm=norm)
        # Where few points turn adversarial, one pass gives this point's prediction and the
        # next linearisation (the few that step back are linearised again); where many do,
        # a plain prediction first, then one linearisation after the step back, is cheaper.
        fused = share < 0.25
        if fused:
            logits, g, w = linearise(x1, every)
        else:
            with torch.no_grad():
                logits = model(x1)
        is_adv = logits.argmax(1) != y
        share = float(is_adv.float().mean())
        if share > 0:
            back = is_adv.nonzero()[:, 0]
            with torch.no_grad():
                if step is compiled_step:
                    fab_kernel.step_back(
                        KINDS[threat(norm).p],
                        x1.numpy(),
                        x0.numpy(),
                        back.numpy(),
                        beta,
                        adv.numpy(),
                        best.numpy(),
                    )
                else:
                    xa, xo = x1[back], x0[back]
                    dist = distance(xa, xo, norm)
                    closer = dist < best[back]
                    adv[back[closer]] = xa[closer]
                    best[back[closer]] = dist[closer]
                    x1[back] = xo + beta * (xa - xo)
            if fused:
                _, g[back], w[back] = linearise(x1[back], back)
        if not fused:
            _, g, w = linearise(x1, every)
    return adv, best
