"""L1: the total change of all pixels is at most eps (the sparse threat; Croce & Hein 2021,
"Mind the box"). Its dual is L-inf. The projection onto ball and box is exact."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from lilbench.lazy import lazy_module
from lilbench.threats.base import ThreatModel, register

if TYPE_CHECKING:
    import torch
else:
    torch = lazy_module("torch")

# The steepest L1 ascent moves one pixel; like SLIDE (Tramer & Boneh 2019) and l1-APGD,
# lilbench moves the top 1% of the gradient's coordinates at once (at least one).
ASCENT_TOP = 0.01


def sort_rows(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(values, order) of each row of t in ascending order. On the CPU through numpy, whose
    quicksort takes half of torch's time there (float64, 480 x 1568: 30 ms against 62 ms,
    one thread); the order of tied values may differ, which no caller here depends on."""
    if t.device.type == "cpu" and not t.requires_grad:
        order = torch.from_numpy(np.argsort(t.numpy(), axis=1))
        return t.gather(1, order), order
    values, order = t.sort(dim=1)
    return values, order


def sorted_values(t: torch.Tensor) -> torch.Tensor:
    """Each row of t in ascending order (numpy's sort on the CPU: 2-4x torch's speed there)."""
    if t.device.type == "cpu" and not t.requires_grad:
        return torch.from_numpy(np.sort(t.numpy(), axis=1))
    return t.sort(dim=1).values


def project_l1_box(
    v: torch.Tensor, x: torch.Tensor, eps: float, lo: float = 0.0, hi: float = 1.0
) -> torch.Tensor:
    """The Euclidean projection of rows v (a perturbation of x) onto {||d||_1 <= eps,
    lo <= x + d <= hi}, exactly. The solution is d_i = sign(v_i) min(max(|v_i| - lam, 0),
    u_i), u_i the room to the box in v_i's direction, with lam >= 0 the root of the
    piecewise-linear g(lam) = sum_i |d_i| = eps (lam = 0 where g(0) <= eps). g's slope
    changes only at |v_i| - u_i and |v_i|: sort those 2d points, walk g along them, and
    interpolate on the one piece that crosses eps."""
    shape, dtype = v.shape, v.dtype
    v64 = v.reshape(len(v), -1).double()
    x64 = x.reshape(len(x), -1).double()
    a = v64.abs()
    room = torch.where(v64 >= 0, hi - x64, x64 - lo).clamp_min(0.0)
    g0 = torch.minimum(a, room).sum(1)
    lam = torch.zeros(len(v64), dtype=torch.float64, device=v.device)
    over = g0 > eps
    if bool(over.any()):
        ao, ro = a[over], room[over]
        # a coordinate with v_i = 0 adds nothing to g: keep every other one and at least one
        # zero, so g's points, drops and slopes are those of all coordinates (l1-APGD's
        # perturbations are sparse: this sorts tens of points instead of 2d)
        m = int((ao > 0).sum(1).max()) + 1
        if m < ao.shape[1]:
            keep = ao.topk(m, dim=1).indices
            ao, ro = ao.gather(1, keep), ro.gather(1, keep)
        points = torch.cat([(ao - ro).clamp_min(0.0), ao], dim=1)  # [n, 2d]
        change = torch.cat([torch.ones_like(ao), -torch.ones_like(ao)], dim=1)
        # the order of tied points does not matter: between them g does not move
        points, order = sort_rows(points)
        slope = change.gather(1, order).cumsum(1)  # coordinates still shrinking past each
        drop = slope[:, :-1] * points.diff(dim=1)
        g = torch.cat([g0[over, None], g0[over, None] - drop.cumsum(1)], dim=1)
        g[:, -1] = 0.0  # past the last point every coordinate is 0 (not a rounding residue)
        # the first point where g <= eps; the root lies on the piece just before it
        j = (g <= eps).double().argmax(1).clamp_min(1)
        rows = torch.arange(len(j), device=v.device)
        left, g_left, s = points[rows, j - 1], g[rows, j - 1], slope[rows, j - 1]
        lam[over] = left + (g_left - eps).clamp_min(0.0) / s.clamp_min(1.0)
    out = v64.sign() * torch.minimum((a - lam[:, None]).clamp_min(0.0), room)
    return out.to(dtype).reshape(shape)


@register
class L1(ThreatModel):
    name = "l1"
    order = 2
    key = "1"
    p = 1.0
    dual_p = math.inf
    label = "L1"
    prose_name = "L1"
    suffix = "-l1"
    in_art = False
    size_field = "max_lp"
    eps_unit = "an L1 radius"
    max_eps = 1e6  # d covers the [0, 1] cube of d pixels; 1e6 any image up to 1000^2 pixels
    verdict_eps = 4.0  # where AutoAttack-L1 leaves the paper MLPs partly robust (measured)
    default_attack_eps = (1.0, 2.0, 4.0, 6.0, 8.0, 10.0)  # 10: Maini et al.'s MNIST radius
    default_certify_eps = (0.1, 0.3, 1.0, 3.0)

    def project(
        self, delta: torch.Tensor, x: torch.Tensor, eps: float, lo: float = 0.0, hi: float = 1.0
    ) -> torch.Tensor:
        return project_l1_box(delta, x, eps, lo, hi)

    def ascent(self, grad: torch.Tensor) -> torch.Tensor:
        flat = grad.reshape(len(grad), -1)
        k = max(1, math.ceil(ASCENT_TOP * flat.shape[1]))
        top = flat.abs().topk(k, dim=1).indices
        out = torch.zeros_like(flat)
        out.scatter_(1, top, flat.gather(1, top).sign() / k)
        return out.reshape(grad.shape)

    def random_start(
        self, x: torch.Tensor, eps: float, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        flat = x.reshape(len(x), -1)
        u = torch.rand(flat.shape, generator=generator, dtype=torch.float64, device=x.device)
        e = -torch.log1p(-u)  # Exp(1): normalised, a uniform point of the simplex
        s = torch.rand(flat.shape, generator=generator, dtype=torch.float64, device=x.device)
        r = torch.rand(len(x), 1, generator=generator, dtype=torch.float64, device=x.device)
        delta = torch.where(s < 0.5, -e, e) / e.sum(1, keepdim=True) * eps * r ** (1 / e.shape[1])
        return (flat + delta.to(x.dtype)).clamp(0.0, 1.0).reshape(x.shape)

    def sample_ball(
        self, shape: tuple[int, ...], eps: float, rng: np.random.Generator
    ) -> np.ndarray:
        e = rng.exponential(1.0, shape)
        signs = rng.choice(np.array([-1.0, 1.0]), size=shape)
        radius = eps * rng.random() ** (1.0 / e.size)
        return signs * e * (radius / (float(e.sum()) or 1.0))
