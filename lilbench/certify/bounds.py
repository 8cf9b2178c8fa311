"""Sound lower bounds on the logit margins z_y - z_j over an L-inf ball (clipped to the input
bounds) for feed-forward chains of linear layers and tanh / ReLU activations.

Three certificates, loosest to tightest on the models here:
- `lipschitz`: the margin minus (Lipschitz constant of the margin) x (ball size). The first
  layer's L-inf -> L2 norm is bounded by sqrt(sum_i ||W1[i]||_1^2), every later layer by its
  spectral norm; tanh and ReLU are 1-Lipschitz. The paper's argument, made quantitative.
- `ibp`: interval bound propagation, with the last layer folded into the margins.
- `crown`: backward linear relaxation (Zhang et al. 2018) of every activation, with every
  layer's pre-activation bounds from CROWN itself; each bound is intersected with IBP's, so
  CROWN is never looser than IBP.

No maintained library does this here (ART's certifiers take ReLU only; auto_LiRPA on PyPI
needs torch < 1.13), so these ~200 lines are tested against sampling and PGD in the tests.
Everything runs in float64, so rounding cannot turn a margin of 1e-7 into a certificate.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Literal

from lilbench.certify.spec import METHODS
from lilbench.errors import ConfigError
from lilbench.lazy import lazy_module

if TYPE_CHECKING:
    import torch
    from torch import nn
else:
    torch = lazy_module("torch")
    nn = lazy_module("torch.nn")

Activation = Literal["tanh", "relu"]


@dataclass(frozen=True)
class Chain:
    """z = W_L act(... act(W_1 x + b_1) ...) + b_L, in float64."""

    weights: list[torch.Tensor]  # [out, in]
    biases: list[torch.Tensor]
    activations: list[Activation]  # one after each layer but the last

    @classmethod
    def from_layers(cls, layers: Sequence[nn.Module]) -> Chain:
        weights: list[torch.Tensor] = []
        biases: list[torch.Tensor] = []
        acts: list[Activation] = []
        for layer in layers:
            if isinstance(layer, nn.Linear):
                weights.append(layer.weight.detach().double().cpu())
                bias = layer.bias if layer.bias is not None else torch.zeros(layer.out_features)
                biases.append(bias.detach().double().cpu())
            elif isinstance(layer, nn.Tanh | nn.ReLU):
                if len(acts) != len(weights) - 1:
                    raise ConfigError("certify: two activations in a row are not supported")
                acts.append("tanh" if isinstance(layer, nn.Tanh) else "relu")
            elif isinstance(layer, nn.Conv2d | nn.Unflatten):
                raise ConfigError(
                    "certify bounds MLPs (linear layers with tanh or ReLU); this model has a "
                    "convolutional feature extractor"
                )
            else:
                raise ConfigError(f"certify: cannot bound a {type(layer).__name__} layer")
        if not weights or len(acts) != len(weights) - 1:
            raise ConfigError("certify: expected linear layers with one activation between each")
        return cls(weights, biases, acts)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.double()
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            h = h @ w.T + b
            if i < len(self.activations):
                h = _act(self.activations[i], h)
        return h


def _act(name: Activation, z: torch.Tensor) -> torch.Tensor:
    return torch.tanh(z) if name == "tanh" else torch.relu(z)


def margin_matrix(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """[N, K-1, K]: row j of example n is e_y - e_j, for every class j != y."""
    eye = torch.eye(num_classes, dtype=torch.float64)
    rows = eye[labels][:, None, :] - eye[None, :, :]  # [N, K, K]
    others = ~eye.bool()[labels]  # [N, K]: j != y
    return rows[others].reshape(len(labels), num_classes - 1, num_classes)


def _box(x: torch.Tensor, eps: float, lo: float, hi: float) -> tuple[torch.Tensor, torch.Tensor]:
    x = x.double()
    return (x - eps).clamp(lo, hi), (x + eps).clamp(lo, hi)


# An L2 ball meets the [0, 1] box: every bound below takes the box's bound (over the L-inf
# hull of ball and box, clamp(x0 -+ eps, 0, 1), which contains their intersection) and, for a
# linear function a . x + c, also its minimum over the whole ball, a . x0 + c - eps ||a||_2
# (the box dropped); both are sound over the intersection, so their maximum is.
if TYPE_CHECKING:
    Ball = tuple[torch.Tensor, float]  # (centre [N, d], L2 radius)


def _ball(x: torch.Tensor, eps: float, norm: str) -> Ball | None:
    if norm == "inf":
        return None
    if norm != "2":
        raise ConfigError(f"unknown norm {norm!r}; known: inf, 2")
    return x.double(), float(eps)


def _ball_low(a: torch.Tensor, bias: torch.Tensor, ball: Ball) -> torch.Tensor:
    """min over the L2 ball of a . x + bias; a: [N, m, d], bias: [N, m]."""
    x0, eps = ball
    return bias + (a @ x0[:, :, None])[..., 0] - eps * a.norm(dim=-1)


# --- IBP -----------------------------------------------------------------------------------


def _affine_interval(
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


def _first_interval(
    chain: Chain, lb: torch.Tensor, ub: torch.Tensor, ball: Ball | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """The first layer's pre-activation interval over the input set: the box's, and for an
    L2 ball also W x0 + b -+ eps ||W_i||_2 (both are sound: their intersection is)."""
    zl, zu = _affine_interval(chain.weights[0], chain.biases[0], lb, ub)
    if ball is not None:
        x0, eps = ball
        c = x0 @ chain.weights[0].T + chain.biases[0]
        r = eps * chain.weights[0].norm(dim=1)
        zl, zu = torch.maximum(zl, c - r), torch.minimum(zu, c + r)
    return zl, zu


def ibp_layer_bounds(
    chain: Chain, lb: torch.Tensor, ub: torch.Tensor, ball: Ball | None = None
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Pre-activation bounds of every hidden layer."""
    out = []
    for i, act in enumerate(chain.activations):
        if i == 0:
            zl, zu = _first_interval(chain, lb, ub, ball)
        else:
            zl, zu = _affine_interval(chain.weights[i], chain.biases[i], lb, ub)
        out.append((zl, zu))
        lb, ub = _act(act, zl), _act(act, zu)  # both activations are monotone
    return out


def _last_input_interval(
    chain: Chain, pre: list[tuple[torch.Tensor, torch.Tensor]], lb: torch.Tensor, ub: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    if not pre:
        return lb, ub
    zl, zu = pre[-1]
    act = chain.activations[-1]
    return _act(act, zl), _act(act, zu)


def _margin_layer(chain: Chain, spec: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The last layer folded into the margins: [N, K-1, width] and [N, K-1]."""
    return spec @ chain.weights[-1], spec @ chain.biases[-1]


def ibp_margins(
    chain: Chain,
    x: torch.Tensor,
    labels: torch.Tensor,
    eps: float,
    lo: float = 0.0,
    hi: float = 1.0,
    norm: str = "inf",
) -> torch.Tensor:
    """Lower bounds [N, K-1] of z_y - z_j over the ball (L-inf, or L2 with norm "2")."""
    lb, ub = _box(x, eps, lo, hi)
    ball = _ball(x, eps, norm)
    pre = ibp_layer_bounds(chain, lb, ub, ball)
    hl, hu = _last_input_interval(chain, pre, lb, ub)
    w, b = _margin_layer(chain, margin_matrix(labels, chain.weights[-1].shape[0]))
    low = _affine_interval(w, b, hl, hu)[0]
    if not pre and ball is not None:  # a linear model: the margin over the ball directly
        low = torch.maximum(low, _ball_low(w, b, ball))
    return low


# --- CROWN ---------------------------------------------------------------------------------


def _relaxation(
    act: Activation, lb: torch.Tensor, ub: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Lines a_lo z + b_lo <= act(z) <= a_up z + b_up on [lb, ub], elementwise."""
    same = (ub - lb) < 1e-12
    if act == "relu":
        dead, active = ub <= 0, lb >= 0
        zero, one = torch.zeros_like(lb), torch.ones_like(lb)
        chord = ub / (ub - lb).clamp_min(1e-300)  # used only where lb < 0 < ub
        a_up = torch.where(dead, zero, torch.where(active, one, chord))
        b_up = torch.where(dead | active, zero, -chord * lb)
        # Lower line through the origin: slope 1 where the positive side is larger (CROWN).
        a_lo = torch.where(dead, zero, torch.where(active, one, (ub > -lb).double()))
        return a_lo, zero, a_up, b_up
    fl, fu = torch.tanh(lb), torch.tanh(ub)
    dl, du = 1 - fl**2, 1 - fu**2
    chord = (fu - fl) / (ub - lb).clamp_min(1e-300)
    mid = (lb + ub) / 2
    fm = torch.tanh(mid)
    dm = 1 - fm**2
    # On a (near-)point interval: tanh' >= k = min(tanh'(lb), tanh'(ub)) (tanh' falls with
    # |z|), so the lines of slope k through (lb, tanh lb) and (ub, tanh ub) bound tanh.
    k = torch.minimum(dl, du)
    a_lo, b_lo = k.clone(), fl - k * lb
    a_up, b_up = k.clone(), fu - k * ub
    # Crossing zero (CROWN, Zhang et al. 2018, as its published implementation draws them):
    # the upper line is the tangent at the d in [0, ub] whose tangent passes through
    # (lb, tanh lb), or at the midpoint where that lies past d, or the chord where d lies
    # beyond ub; the lower line symmetrically (tangent through (ub, tanh ub), d in [lb, 0]).
    crossing = (lb < 0) & (ub > 0) & ~same
    if bool(crossing.any()):
        t_up, c_up = _tangent_through(lb.clamp_max(-1e-300), ub.clamp_min(1e-300))
        t_lo, c_lo = _tangent_through((-ub).clamp_max(-1e-300), (-lb).clamp_min(1e-300))
        a_up, b_up = torch.where(crossing, t_up, a_up), torch.where(crossing, c_up, b_up)
        # tanh is odd: the lower line on [lb, ub] is the reflected upper line on [-ub, -lb]
        a_lo, b_lo = torch.where(crossing, t_lo, a_lo), torch.where(crossing, -c_lo, b_lo)
    # tanh is convex below 0, concave above.
    convex, concave = (ub <= 0) & ~same, (lb >= 0) & ~same
    # Convex: the chord lies above, the tangent at the midpoint below (concave: the reverse).
    a_up = torch.where(convex, chord, torch.where(concave, dm, a_up))
    b_up = torch.where(convex, fl - chord * lb, torch.where(concave, fm - dm * mid, b_up))
    a_lo = torch.where(convex, dm, torch.where(concave, chord, a_lo))
    b_lo = torch.where(convex, fm - dm * mid, torch.where(concave, fl - chord * lb, b_lo))
    return a_lo, b_lo, a_up, b_up


TANGENT_BISECTIONS = 60  # float64: the bracket shrinks below 1e-17 of ub


def _tangent(d: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(slope, intercept) of tanh's tangent at d."""
    t = torch.tanh(d)
    slope = 1 - t**2
    return slope, t - slope * d


def _tangent_through(lb: torch.Tensor, ub: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A sound upper line (slope, intercept) of tanh on [lb, ub] for lb < 0 < ub: the tangent
    at the d in [0, ub] whose tangent passes through (lb, tanh lb), or at the midpoint of
    [lb, ub] where that lies in [d, ub], else the chord.

    f(d) = tanh d - tanh'(d) (d - lb) - tanh lb rises on d > 0 (tanh'' < 0 there) from
    f(0) = lb - tanh lb < 0. The tangent at any d > 0 lies above tanh on [0, inf) (concave),
    and where f(d) >= 0 it lies above (lb, tanh lb), so above the chord from there to
    (0, 0), which lies above tanh on [lb, 0] (convex): sound wherever f(d) >= 0. The
    bisection keeps that side. Where f(ub) < 0 the root lies beyond ub, the tangent at ub
    passes below (lb, tanh lb), and the chord is the sound line (CROWN's fall-back).

    Every tangent at a point of [d, ub] is sound too (concave there, and above the tangent at
    d at lb). Where the interval leans to the positive side, so that its midpoint lies past
    d, the midpoint's tangent is taken: it hugs tanh over the wider part of the interval.
    The published implementation (auto_LiRPA) does the same by default, and this choice is
    what reproduces its CROWN counts (issue 35: 158 images at eps 0.01 where the tangent at d
    alone gives 135)."""

    d, use_chord = _tangent_point(lb, ub)
    slope, intercept = _tangent(torch.maximum(d, (lb + ub) / 2))
    fl, fu = torch.tanh(lb), torch.tanh(ub)
    chord = (fu - fl) / (ub - lb).clamp_min(1e-300)
    slope = torch.where(use_chord, chord, slope)
    intercept = torch.where(use_chord, fl - chord * lb, intercept)
    return slope, intercept


def _tangent_point(lb: torch.Tensor, ub: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(the smallest d in [0, ub] whose tangent passes on or above (lb, tanh lb), where the
    chord must be used instead because no such d exists); see `_tangent_through`. Every
    tangent at a point of [d, ub] is a sound upper line too (alpha-CROWN's range)."""

    def f(d: torch.Tensor) -> torch.Tensor:
        t = torch.tanh(d)
        return t - (1 - t**2) * (d - lb) - torch.tanh(lb)

    lo, hi = torch.zeros_like(ub), ub.clone()
    for _ in range(TANGENT_BISECTIONS):
        mid = (lo + hi) / 2
        right = f(mid) >= 0
        hi = torch.where(right, mid, hi)
        lo = torch.where(right, lo, mid)
    return hi, f(ub) < 0  # f(hi) >= 0 wherever f(ub) >= 0: the sound side


def _concretize(
    a: torch.Tensor, bias: torch.Tensor, lb: torch.Tensor, ub: torch.Tensor, ball: Ball | None
) -> torch.Tensor:
    """min of a . x + bias over the input set: over the box, a . centre - |a| . radius (the
    input's widest product); for an L2 ball also a . x0 - eps ||a||_2 (the dual norm)."""
    centre, radius = (lb + ub) / 2, (ub - lb) / 2
    low = bias + (a @ centre[:, :, None])[..., 0] - (a.abs() @ radius[:, :, None])[..., 0]
    if ball is not None:
        low = torch.maximum(low, _ball_low(a, bias, ball))
    return low


def _backward(
    chain: Chain,
    spec: torch.Tensor,
    spec_bias: torch.Tensor,
    top: int,
    pre: list[tuple[torch.Tensor, torch.Tensor]],
    lb: torch.Tensor,
    ub: torch.Tensor,
    *,
    upper: bool = True,
    ball: Ball | None = None,
) -> list[torch.Tensor]:
    """[lower, upper] bounds of spec @ z_top + spec_bias, z_top the output of layer `top`
    (0-based), given pre-activation bounds of the layers below. spec: [N, m, width_top]."""
    bounds = []
    for sign in (1.0, -1.0) if upper else (1.0,):  # the upper bound is -(lower bound of -s.z)
        a = sign * spec
        bias = sign * spec_bias
        for i in range(top, -1, -1):
            bias = bias + a @ chain.biases[i]
            a = a @ chain.weights[i]  # now acting on the input of layer i
            if i == 0:
                break
            a_lo, b_lo, a_up, b_up = _relaxation(chain.activations[i - 1], *pre[i - 1])
            pos, neg = a.clamp_min(0), a.clamp_max(0)
            # the sums over units as batched products: one pass each, not two elementwise
            bias = bias + (pos @ b_lo[:, :, None])[..., 0] + (neg @ b_up[:, :, None])[..., 0]
            a = pos * a_lo[:, None, :] + neg * a_up[:, None, :]
        bounds.append(sign * _concretize(a, bias, lb, ub, ball))
    return bounds


def crown_layer_bounds(
    chain: Chain,
    lb: torch.Tensor,
    ub: torch.Tensor,
    *,
    intersect: bool = True,
    ball: Ball | None = None,
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Pre-activation bounds of every hidden layer, CROWN intersected with IBP (`intersect`
    False: CROWN alone, for the tests)."""
    n = len(lb)
    pre: list[tuple[torch.Tensor, torch.Tensor]] = []
    il, iu = lb, ub
    for i, act in enumerate(chain.activations):
        if i == 0:
            ibp_l, ibp_u = _first_interval(chain, il, iu, ball)
        else:
            ibp_l, ibp_u = _affine_interval(chain.weights[i], chain.biases[i], il, iu)
        width = chain.weights[i].shape[0]
        if i == 0 and intersect:  # an affine map of the input set: the interval is exact
            zl, zu = ibp_l, ibp_u
        else:
            eye = torch.eye(width, dtype=torch.float64).expand(n, width, width)
            zero = torch.zeros(n, width, dtype=torch.float64)
            cl, cu = _backward(chain, eye, zero, i, pre, lb, ub, ball=ball)
            zl, zu = (torch.maximum(cl, ibp_l), torch.minimum(cu, ibp_u)) if intersect else (cl, cu)
        pre.append((zl, zu))
        il, iu = _act(act, zl), _act(act, zu)
    return pre


def crown_margins(
    chain: Chain,
    x: torch.Tensor,
    labels: torch.Tensor,
    eps: float,
    lo: float = 0.0,
    hi: float = 1.0,
    norm: str = "inf",
    *,
    intersect: bool = True,
) -> torch.Tensor:
    lb, ub = _box(x, eps, lo, hi)
    ball = _ball(x, eps, norm)
    pre = crown_layer_bounds(chain, lb, ub, intersect=intersect, ball=ball)
    spec = margin_matrix(labels, chain.weights[-1].shape[0])
    zero = torch.zeros(spec.shape[:2], dtype=torch.float64)
    last = len(chain.weights) - 1
    (crown_low,) = _backward(chain, spec, zero, last, pre, lb, ub, upper=False, ball=ball)
    if not intersect:
        return crown_low
    hl, hu = _last_input_interval(chain, pre, lb, ub)
    w, b = _margin_layer(chain, spec)
    return torch.maximum(crown_low, _affine_interval(w, b, hl, hu)[0])


# --- alpha-CROWN -----------------------------------------------------------------------------

ALPHA_ITERATIONS = 20  # Adam steps on the lines' free parameters, per batch of images
ALPHA_LR = 0.1  # in units of the parameters' range [0, 1]


@dataclass
class _Free:
    """The free lines of one layer's neurons (alpha-CROWN, Xu et al. 2021): each sound line
    is tangent at a point d(t) = lo + t (hi - lo), t in [0, 1] (tanh), or has slope t
    (ReLU's lower line); elsewhere CROWN's fixed line. [N, width] each."""

    lo_lo: torch.Tensor
    lo_hi: torch.Tensor
    free_lo: torch.Tensor
    up_lo: torch.Tensor
    up_hi: torch.Tensor
    free_up: torch.Tensor
    t_lo0: torch.Tensor  # CROWN's own choice, where the optimisation starts
    t_up0: torch.Tensor


def _free_lines(act: Activation, lb: torch.Tensor, ub: torch.Tensor) -> _Free:
    same = (ub - lb) < 1e-12
    zero = torch.zeros_like(lb)
    if act == "relu":
        crossing = (lb < 0) & (ub > 0) & ~same
        start = (ub > -lb).double()  # CROWN's slope: 1 where the positive side is larger
        return _Free(zero, zero + 1, crossing, zero, zero, crossing & False, start, zero)
    crossing = (lb < 0) & (ub > 0) & ~same
    convex, concave = (ub <= 0) & ~same, (lb >= 0) & ~same
    half = zero + 0.5
    # crossing: upper tangents at d in [root, ub]; lower tangents at d in [lb, -root'] (the
    # mirror image), where the root exists (else the chord, fixed)
    d_up, chord_up = _tangent_point(lb.clamp_max(-1e-300), ub.clamp_min(1e-300))
    d_lo, chord_lo = _tangent_point((-ub).clamp_max(-1e-300), (-lb).clamp_min(1e-300))
    free_up = (crossing & ~chord_up) | concave
    free_lo = (crossing & ~chord_lo) | convex
    up_lo = torch.where(crossing, d_up, lb)
    lo_hi = torch.where(crossing, -d_lo, ub)
    # CROWN's choice: crossing, the root or the midpoint where that lies inside the range
    # (as `_tangent_through`); one-signed, the midpoint
    mid = (lb + ub) / 2
    t_up = (mid - d_up).clamp_min(0.0) / (ub - d_up).clamp_min(1e-300)
    t_lo = (mid - lb) / (-d_lo - lb).clamp_min(1e-300)
    t_up0 = torch.where(crossing, t_up.clamp(0.0, 1.0), half)
    t_lo0 = torch.where(crossing, t_lo.clamp(0.0, 1.0), half)
    return _Free(lb, lo_hi, free_lo, up_lo, ub, free_up, t_lo0, t_up0)


def _lines(
    act: Activation,
    lb: torch.Tensor,
    ub: torch.Tensor,
    free: _Free,
    t_lo: torch.Tensor,
    t_up: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The relaxation with the free lines at t (shape [N, m, width], one per margin row)."""
    a_lo, b_lo, a_up, b_up = (v[:, None, :] for v in _relaxation(act, lb, ub))
    fl, fu = free.free_lo[:, None, :], free.free_up[:, None, :]
    if act == "relu":
        return torch.where(fl, t_lo, a_lo), b_lo.expand_as(t_lo), a_up.expand_as(t_up), b_up
    d_lo = free.lo_lo[:, None, :] + t_lo * (free.lo_hi - free.lo_lo)[:, None, :]
    d_up = free.up_lo[:, None, :] + t_up * (free.up_hi - free.up_lo)[:, None, :]
    s_lo, c_lo = _tangent(d_lo)
    s_up, c_up = _tangent(d_up)
    return (
        torch.where(fl, s_lo, a_lo),
        torch.where(fl, c_lo, b_lo),
        torch.where(fu, s_up, a_up),
        torch.where(fu, c_up, b_up),
    )


def _backward_rows(
    chain: Chain,
    spec: torch.Tensor,
    pre: list[tuple[torch.Tensor, torch.Tensor]],
    relax: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]],
    lb: torch.Tensor,
    ub: torch.Tensor,
    ball: Ball | None,
    top: int | None = None,
) -> torch.Tensor:
    """Lower bounds [N, m] of spec @ z_top (default: the output) with per-row relaxations
    ([N, m, width])."""
    a = spec
    bias = torch.zeros(spec.shape[:2], dtype=torch.float64)
    for i in range(len(chain.weights) - 1 if top is None else top, -1, -1):
        bias = bias + a @ chain.biases[i]
        a = a @ chain.weights[i]
        if i == 0:
            break
        a_lo, b_lo, a_up, b_up = relax[i - 1]
        pos, neg = a.clamp_min(0), a.clamp_max(0)
        bias = bias + (pos * b_lo).sum(-1) + (neg * b_up).sum(-1)
        a = pos * a_lo + neg * a_up
    return _concretize(a, bias, lb, ub, ball)


def _optimise(
    chain: Chain,
    spec: torch.Tensor,
    pre: list[tuple[torch.Tensor, torch.Tensor]],
    lb: torch.Tensor,
    ub: torch.Tensor,
    ball: Ball | None,
    top: int,
    iterations: int,
    lr: float,
) -> torch.Tensor | None:
    """The best lower bounds [N, m] of spec @ z_top over projected-Adam iterates of the free
    lines of the layers below `top` (None: no line is free, CROWN's bound is the answer)."""
    acts = chain.activations[:top]
    frees = [_free_lines(act, *pre[i]) for i, act in enumerate(acts)]
    if not any(bool(f.free_lo.any() or f.free_up.any()) for f in frees):
        return None
    m = spec.shape[1]
    params = [
        t0[:, None, :].expand(-1, m, -1).clone().requires_grad_(True)
        for f in frees
        for t0 in (f.t_lo0, f.t_up0)
    ]
    best: torch.Tensor | None = None
    opt = torch.optim.Adam(params, lr=lr)
    for step in range(iterations + 1):  # the last pass only evaluates the final lines
        relax = [
            _lines(act, *pre[i], frees[i], params[2 * i], params[2 * i + 1])
            for i, act in enumerate(acts)
        ]
        low = _backward_rows(chain, spec, pre, relax, lb, ub, ball, top)
        best = low.detach() if best is None else torch.maximum(best, low.detach())
        if step == iterations:
            break
        opt.zero_grad()
        (-low.sum()).backward()
        opt.step()
        with torch.no_grad():
            for t in params:
                t.clamp_(0.0, 1.0)  # the projection: back into the sound range
    return best


def alpha_crown_margins(
    chain: Chain,
    x: torch.Tensor,
    labels: torch.Tensor,
    eps: float,
    lo: float = 0.0,
    hi: float = 1.0,
    norm: str = "inf",
    *,
    iterations: int = ALPHA_ITERATIONS,
    lr: float = ALPHA_LR,
    intermediate: bool = False,
) -> torch.Tensor:
    """alpha-CROWN (Xu et al. 2021) on the final margins: every free line's position, per
    image, margin row and neuron, optimised by projected Adam on the sum of the margins'
    lower bounds, starting at CROWN's lines. `intermediate` False: the hidden layers' bounds
    are CROWN's (reused); True (`alpha-crown-full`, as the published alpha-CROWN): each hidden
    layer's pre-activation bounds, from the second on, are optimised the same way first (both
    sides of every neuron, lines of their own), layer by layer, each feeding the next. Every
    position in range is a sound line, so every iterate's bound is sound; each bound is the
    elementwise best over the iterates and CROWN's own, so it is never looser than `crown`.
    Deterministic: no randomness, float64."""
    crown = crown_margins(chain, x, labels, eps, lo, hi, norm)
    lb, ub = _box(x, eps, lo, hi)
    ball = _ball(x, eps, norm)
    pre = crown_layer_bounds(chain, lb, ub, ball=ball)
    if intermediate:
        for top in range(1, len(chain.activations)):
            w = chain.weights[top].shape[0]
            eye = torch.eye(w, dtype=torch.float64)
            rows = torch.cat([eye, -eye]).expand(len(x), 2 * w, w)
            low = _optimise(chain, rows, pre, lb, ub, ball, top, iterations, lr)
            if low is not None:
                zl, zu = pre[top]
                pre[top] = (torch.maximum(zl, low[:, :w]), torch.minimum(zu, -low[:, w:]))
    spec = margin_matrix(labels, chain.weights[-1].shape[0])
    low = _optimise(chain, spec, pre, lb, ub, ball, len(chain.weights) - 1, iterations, lr)
    return crown if low is None else torch.maximum(crown, low)


# --- Lipschitz -----------------------------------------------------------------------------


def lipschitz_margins(
    chain: Chain,
    x: torch.Tensor,
    labels: torch.Tensor,
    eps: float,
    lo: float = 0.0,
    hi: float = 1.0,
    norm: str = "inf",
) -> torch.Tensor:
    """margin(x) - eps * Lip(margin) from L-inf (or L2) to R (the clip to [lo, hi] only
    shrinks the ball). In L2, its natural norm: the product of the spectral norms."""
    margins = margin_matrix(labels, chain.weights[-1].shape[0]) @ chain.forward(x)[:, :, None]
    if norm == "2":
        first = torch.linalg.matrix_norm(chain.weights[0], ord=2)  # ||W1||_{2->2}
    else:
        first = chain.weights[0].abs().sum(1).pow(2).sum().sqrt()  # ||W1||_{inf->2} bound
    middle = torch.tensor(1.0, dtype=torch.float64)
    for w in chain.weights[1:-1]:
        middle = middle * torch.linalg.matrix_norm(w, ord=2)
    spec = margin_matrix(labels, chain.weights[-1].shape[0])
    last = (spec @ chain.weights[-1]).norm(dim=-1)  # [N, K-1]: ||W_L[y] - W_L[j]||_2
    if len(chain.weights) == 1:  # a linear model: the exact dual norm of the margin row
        rows = spec @ chain.weights[0]
        dual = rows.norm(dim=-1) if norm == "2" else rows.abs().sum(-1)
        return margins[..., 0] - eps * dual
    return margins[..., 0] - eps * first * middle * last


MARGINS: dict[str, Callable[..., torch.Tensor]] = {
    "lipschitz": lipschitz_margins,
    "ibp": ibp_margins,
    "crown": crown_margins,
    "alpha-crown": alpha_crown_margins,
    "alpha-crown-full": partial(alpha_crown_margins, intermediate=True),
}


def certified(
    chain: Chain,
    x: torch.Tensor,
    labels: torch.Tensor,
    eps: float,
    method: str,
    *,
    batch_size: int = 128,
    norm: str = "inf",
) -> torch.Tensor:
    """Boolean [N]: every margin of the true class is provably positive over the ball (of
    the L-inf norm, or of L2 with norm "2"), intersected with the [0, 1] box."""
    if method not in MARGINS:
        raise ConfigError(f"unknown certificate {method!r}; known: {', '.join(METHODS)}")
    out = []
    for start in range(0, len(x), batch_size):
        rows = slice(start, start + batch_size)
        if method.startswith("alpha-crown"):
            full = method == "alpha-crown-full"
            out.append(_alpha_certified(chain, x[rows], labels[rows], eps, norm, full=full))
            continue
        low = MARGINS[method](chain, x[rows], labels[rows], eps, norm=norm)
        out.append((low > 0).all(dim=1))
    return torch.cat(out) if out else torch.zeros(0, dtype=torch.bool)


def _alpha_certified(
    chain: Chain, x: torch.Tensor, labels: torch.Tensor, eps: float, norm: str, *, full: bool
) -> torch.Tensor:
    """alpha-CROWN's verdict, optimised only where it can change it: images CROWN leaves
    unproven that are classified correctly (a wrong prediction has a negative margin at the
    centre, which no bound over the ball can lift)."""
    done = (crown_margins(chain, x, labels, eps, norm=norm) > 0).all(dim=1)
    correct = margin_matrix(labels, chain.weights[-1].shape[0]) @ chain.forward(x)[:, :, None]
    todo = ~done & (correct[..., 0] > 0).all(dim=1)
    if bool(todo.any()):
        idx = todo.nonzero()[:, 0]
        low = alpha_crown_margins(chain, x[idx], labels[idx], eps, norm=norm, intermediate=full)
        done[idx] = (low > 0).all(dim=1)
    return done
