"""tanh: CROWN's lines as the published implementation (auto_LiRPA) draws them, and
alpha-CROWN's tangents anywhere in their sound range.

One-sided intervals: tanh is convex below 0 and concave above, so the chord lies on one
side and the tangent at the midpoint on the other. Crossing 0: the upper line is the tangent
at the d in [0, ub] whose tangent passes through (lb, tanh lb), or at the midpoint where that
lies past d, or the chord where d lies beyond ub (see `_tangent_through`); the lower line is
the mirror image (tanh is odd). Near-point intervals get parallel lines of the smaller end's
slope.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lilbench.certify.relax.base import Free, Lines, Relaxation, register
from lilbench.lazy import lazy_module

if TYPE_CHECKING:
    import torch
else:
    torch = lazy_module("torch")

TANGENT_BISECTIONS = 60  # float64: the bracket shrinks below 1e-17 of ub
POINT = 1e-12  # an interval narrower than this is a point


def _tangent(d: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(slope, intercept) of tanh's tangent at d."""
    t = torch.tanh(d)
    slope = 1 - t**2
    return slope, t - slope * d


def _tangent_point(lb: torch.Tensor, ub: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(the smallest d in [0, ub] whose tangent passes on or above (lb, tanh lb), where the
    chord must be used instead because no such d exists), for lb < 0 < ub. Every tangent at
    a point of [d, ub] is a sound upper line too (alpha-CROWN's range).

    f(d) = tanh d - tanh'(d) (d - lb) - tanh lb rises on d > 0 (tanh'' < 0 there) from
    f(0) = lb - tanh lb < 0; the bisection keeps the side where f >= 0 (sound)."""
    tanh_lb = torch.tanh(lb)

    def f(d: torch.Tensor) -> torch.Tensor:
        t = torch.tanh(d)
        return t - (1 - t**2) * (d - lb) - tanh_lb

    lo, hi = torch.zeros_like(ub), ub.clone()
    for _ in range(TANGENT_BISECTIONS):
        mid = (lo + hi) / 2
        right = f(mid) >= 0
        hi = torch.where(right, mid, hi)
        lo = torch.where(right, lo, mid)
    return hi, f(ub) < 0  # f(hi) >= 0 wherever f(ub) >= 0: the sound side


def _tangent_through(lb: torch.Tensor, ub: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A sound upper line (slope, intercept) of tanh on [lb, ub], lb < 0 < ub: the tangent
    at d (`_tangent_point`), or at the midpoint of [lb, ub] where that lies in [d, ub] (it
    hugs tanh over the wider part; auto_LiRPA's default, and what reproduces its counts),
    else the chord. The tangent at any point of [d, ub] lies above (lb, tanh lb) and, tanh
    being concave on [0, inf), above tanh there; above the chord from (lb, tanh lb) to the
    origin, so above tanh on [lb, 0] (convex)."""
    d, use_chord = _tangent_point(lb, ub)
    slope, intercept = _tangent(torch.maximum(d, (lb + ub) / 2))
    fl, fu = torch.tanh(lb), torch.tanh(ub)
    chord = (fu - fl) / (ub - lb).clamp_min(1e-300)
    slope = torch.where(use_chord, chord, slope)
    intercept = torch.where(use_chord, fl - chord * lb, intercept)
    return slope, intercept


def _crossing(lb: torch.Tensor, ub: torch.Tensor) -> torch.Tensor:
    return (lb < 0) & (ub > 0) & ((ub - lb) >= POINT)


@register
class TanhRelaxation(Relaxation):
    name = "tanh"
    module = "Tanh"

    def apply(self, z: torch.Tensor) -> torch.Tensor:
        return torch.tanh(z)

    def lines(self, lb: torch.Tensor, ub: torch.Tensor) -> Lines:
        same = (ub - lb) < POINT
        fl, fu = torch.tanh(lb), torch.tanh(ub)
        dl, du = 1 - fl**2, 1 - fu**2
        chord = (fu - fl) / (ub - lb).clamp_min(1e-300)
        mid = (lb + ub) / 2
        fm = torch.tanh(mid)
        dm = 1 - fm**2
        # a (near-)point: tanh' >= k = min(tanh'(lb), tanh'(ub)) on it (tanh' falls with |z|),
        # so the lines of slope k through both ends bound tanh
        k = torch.minimum(dl, du)
        a_lo, b_lo = k.clone(), fl - k * lb
        a_up, b_up = k.clone(), fu - k * ub
        crossing = _crossing(lb, ub)
        if bool(crossing.any()):  # the bisection only where it is needed
            lc, uc = lb[crossing], ub[crossing]
            t_up, c_up = _tangent_through(lc.clamp_max(-1e-300), uc.clamp_min(1e-300))
            t_lo, c_lo = _tangent_through((-uc).clamp_max(-1e-300), (-lc).clamp_min(1e-300))
            a_up[crossing], b_up[crossing] = t_up, c_up
            a_lo[crossing], b_lo[crossing] = t_lo, -c_lo  # tanh is odd: the mirrored line
        convex, concave = (ub <= 0) & ~same, (lb >= 0) & ~same
        # convex: the chord lies above, the tangent at the midpoint below (concave: reversed)
        a_up = torch.where(convex, chord, torch.where(concave, dm, a_up))
        b_up = torch.where(convex, fl - chord * lb, torch.where(concave, fm - dm * mid, b_up))
        a_lo = torch.where(convex, dm, torch.where(concave, chord, a_lo))
        b_lo = torch.where(convex, fm - dm * mid, torch.where(concave, fl - chord * lb, b_lo))
        return Lines(a_lo, b_lo, a_up, b_up)

    def free(self, lb: torch.Tensor, ub: torch.Tensor) -> Free:
        """Each free line is the tangent at d(t) = lo + t (hi - lo), t in [0, 1]: crossing,
        upper tangents at d in [root, ub] and lower ones at d in [lb, -root'] (the mirror),
        where the root exists (else the chord, fixed); one-sided, the tangent side anywhere
        in [lb, ub]."""
        same = (ub - lb) < POINT
        crossing = _crossing(lb, ub)
        convex, concave = (ub <= 0) & ~same, (lb >= 0) & ~same
        half = torch.zeros_like(lb) + 0.5
        d_up, d_lo = torch.zeros_like(lb), torch.zeros_like(lb)
        chord_up = torch.zeros_like(crossing)
        chord_lo = torch.zeros_like(crossing)
        if bool(crossing.any()):
            lc, uc = lb[crossing], ub[crossing]
            d_up[crossing], chord_up[crossing] = _tangent_point(
                lc.clamp_max(-1e-300), uc.clamp_min(1e-300)
            )
            d_lo[crossing], chord_lo[crossing] = _tangent_point(
                (-uc).clamp_max(-1e-300), (-lc).clamp_min(1e-300)
            )
        free_up = (crossing & ~chord_up) | concave
        free_lo = (crossing & ~chord_lo) | convex
        up_lo = torch.where(crossing, d_up, lb)
        lo_hi = torch.where(crossing, -d_lo, ub)
        # CROWN's choice: crossing, the root or the midpoint where that lies in range (as
        # `_tangent_through`); one-sided, the midpoint
        mid = (lb + ub) / 2
        t_up = (mid - d_up).clamp_min(0.0) / (ub - d_up).clamp_min(1e-300)
        t_lo = (mid - lb) / (-d_lo - lb).clamp_min(1e-300)
        t_up0 = torch.where(crossing, t_up.clamp(0.0, 1.0), half)
        t_lo0 = torch.where(crossing, t_lo.clamp(0.0, 1.0), half)
        return Free(lb, lo_hi, free_lo, up_lo, ub, free_up, t_lo0, t_up0, self.lines(lb, ub))

    def lines_at(
        self, lb: torch.Tensor, ub: torch.Tensor, free: Free, t_lo: torch.Tensor, t_up: torch.Tensor
    ) -> Lines:
        fixed = free.fixed.rows()
        fl, fu = free.free_lo[:, None, :], free.free_up[:, None, :]
        d_lo = free.lo_lo[:, None, :] + t_lo * (free.lo_hi - free.lo_lo)[:, None, :]
        d_up = free.up_lo[:, None, :] + t_up * (free.up_hi - free.up_lo)[:, None, :]
        s_lo, c_lo = _tangent(d_lo)
        s_up, c_up = _tangent(d_up)
        return Lines(
            torch.where(fl, s_lo, fixed.a_lo),
            torch.where(fl, c_lo, fixed.b_lo),
            torch.where(fu, s_up, fixed.a_up),
            torch.where(fu, c_up, fixed.b_up),
        )
