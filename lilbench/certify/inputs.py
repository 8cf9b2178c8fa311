"""The input set a certificate bounds over: a threat model's ball around each image,
intersected with the [lo, hi] pixel box.

Every bound takes the minimum over the box hull of ball and pixel box (clamp(x -+ eps)),
which contains the set; where the ball is not itself a box (L2, L1), also the minimum of a
linear function over the whole ball, a . x0 - eps ||a||_dual (the threat model's dual
norm). Both are sound over the intersection, so their maximum is."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from lilbench.lazy import lazy_module
from lilbench.threats import ThreatModel

if TYPE_CHECKING:
    import torch
else:
    torch = lazy_module("torch")


@dataclass(frozen=True)
class InputSet:
    x0: torch.Tensor  # [N, d] float64 centres
    eps: float
    threat: ThreatModel
    lb: torch.Tensor  # the box hull
    ub: torch.Tensor

    @classmethod
    def around(
        cls, x: torch.Tensor, eps: float, threat: ThreatModel, lo: float = 0.0, hi: float = 1.0
    ) -> InputSet:
        lb, ub = threat.box_hull(x, eps, lo, hi)
        return cls(x.double(), float(eps), threat, lb, ub)

    def subset(self, rows: torch.Tensor) -> InputSet:
        return InputSet(self.x0[rows], self.eps, self.threat, self.lb[rows], self.ub[rows])

    def affine(self, w: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The interval of x W^T + b over the set (w [out, in], shared by the rows)."""
        zl, zu = interval(w, b, self.lb, self.ub)
        if not self.threat.box_is_exact:
            c = self.x0 @ w.T + b
            r = self.eps * self.threat.dual_norm(w)
            zl, zu = torch.maximum(zl, c - r), torch.minimum(zu, c + r)
        return zl, zu

    def low(
        self, a: torch.Tensor, bias: torch.Tensor, w: torch.Tensor | None = None
    ) -> torch.Tensor:
        """min over the set of a . x + bias (a [N, m, d], bias [N, m]), or of a . (W x) +
        bias where `w` [k, d] is given (a [N, m, k]: the first affine layer folded in here,
        so the centre's product runs on the narrow side). Over the box, a . centre - |a| .
        radius; over the ball, the dual norm's bound."""
        centre, radius = (self.lb + self.ub) / 2, (self.ub - self.lb) / 2
        if w is None:
            wide, mid = a, (a @ centre[:, :, None])[..., 0]
        else:
            wide, mid = a @ w, (a @ (centre @ w.T)[:, :, None])[..., 0]
        low = bias + mid
        if not self.threat.box_is_exact:
            ball = self.threat.ball_low(wide, bias, self.x0, self.eps)
        # a product of ours, needed by no gradient: made absolute in place (one copy less)
        spread = wide.abs_() if wide is not a and not wide.requires_grad else wide.abs()
        low = low - (spread @ radius[:, :, None])[..., 0]
        if not self.threat.box_is_exact:
            low = torch.maximum(low, ball)
        return low


def interval(
    w: torch.Tensor, b: torch.Tensor, lb: torch.Tensor, ub: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Bounds of lb..ub through h -> h W^T + b; `w` may carry a batch axis ([N, out, in])."""
    mid, rad = (ub + lb) / 2, (ub - lb) / 2
    if w.dim() == 3:
        c = torch.einsum("noi,ni->no", w, mid) + b
        r = torch.einsum("noi,ni->no", w.abs(), rad)
    else:
        c, r = mid @ w.T + b, rad @ w.abs().T
    return c - r, c + r
