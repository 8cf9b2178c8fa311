"""The Square attack, L-inf, L2 and L1 (Andriushchenko et al. 2020): score-based random search
with the margin loss, a square window drawn per image and per query.

As in the paper and AutoAttack's code (ART draws one window and one sign for the whole batch
per query): start from vertical stripes of +-eps; at query i a window of side
round(sqrt(p_i * h * w)) (p_i: p_init halved on the paper's schedule) at a random place of
each image is set to x +- eps per channel, clipped to [0, 1]; a proposal that would leave the
window unchanged flips its signs (no query spent on the same point); a proposal is kept where
it lowers the margin. Images stop once misclassified. Only the window is written and undone,
so a query costs one forward pass of the images still robust; for a model whose first layer
is linear (`model.layers()[0]`, as lilbench's MLPs), that layer's output is updated from the
window's change alone (a few pixels late in the schedule) and recomputed in full every
REFRESH queries, so rounding cannot drift; a point the update calls broken is confirmed by
a full forward pass before its image stops.
"""

from __future__ import annotations

import bisect
import functools
import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from lilbench.attacks.kernels.common import PassCounter, margin
from lilbench.threats import threat

SCHEDULE = (0.001, 0.005, 0.02, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8)  # fractions of the queries
SMALL_WINDOW = 100  # pixels x channels up to which the first layer is updated, not recomputed
REFRESH = 250


class Logits:
    """The model's logits for the points of a search, computed in full or, where the model
    starts with a linear layer, from that layer's last output plus the window's change."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        # the runner's pass counter wraps the model: look through it, and count what runs
        self.counter = model if isinstance(model, PassCounter) else None
        inner = model.inner if isinstance(model, PassCounter) else model
        layers = getattr(inner, "layers", None)
        first = layers()[0] if callable(layers) else None
        self.linear = first if type(first) is nn.Linear else None
        self.rest: Callable[[torch.Tensor], torch.Tensor] | None = None
        if self.linear is not None:
            tail = nn.Sequential(*layers()[1:])  # type: ignore[misc]
            self.rest = tail
            self.wt = self.linear.weight.detach().t().contiguous()  # (D, H): rows by pixel
        self.z: torch.Tensor | None = None

    def count(self, rows: int) -> None:
        """Rows run past the counter's back (the first layer updated, the rest run)."""
        if self.counter is not None:
            self.counter.forward_rows += rows

    def full(self, x: torch.Tensor) -> torch.Tensor:
        if self.linear is None or self.rest is None:
            return self.model(x)
        self.count(len(x))
        self.z = self.first(x)
        return self.rest(self.z)

    def first(self, x: torch.Tensor) -> torch.Tensor:
        assert self.linear is not None
        return F.linear(x, self.linear.weight, self.linear.bias)

    def changed(self, x: torch.Tensor, idx: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
        """Logits of x, which differs from the last points only at idx, by delta."""
        if self.rest is None or self.z is None or idx.shape[1] > SMALL_WINDOW:
            self.proposed = None
            return self.model(x) if self.rest is None else self._full_keep(x)
        self.count(len(x))
        # sum_j delta_j W[:, idx_j] per row, as one fused gather-and-sum
        change = F.embedding_bag(idx, self.wt, per_sample_weights=delta, mode="sum")
        self.proposed = self.z + change
        return self.rest(self.proposed)

    def _full_keep(self, x: torch.Tensor) -> torch.Tensor:
        assert self.linear is not None and self.rest is not None
        self.count(len(x))
        self.proposed = self.first(x)
        return self.rest(self.proposed)

    def accept(self, keep: torch.Tensor) -> None:
        """The proposal replaced the last points where `keep`."""
        if self.z is not None and self.proposed is not None:
            self.z = torch.where(keep[:, None], self.proposed, self.z)

    def select(self, rows: torch.Tensor) -> None:
        if self.z is not None:
            self.z = self.z[rows]


def window_fraction(i: int, queries: int, p_init: float) -> float:
    """p_i: the share of pixels a window covers at query i (halved at each mark)."""
    return p_init / 2 ** bisect.bisect_left(SCHEDULE, i / queries)


@torch.no_grad()
def square(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    eps: float,
    shape: tuple[int, int, int],
    queries: int = 5000,
    restarts: int = 1,
    p_init: float = 0.8,
    generator: torch.Generator,
    norm: str = "inf",
) -> torch.Tensor:
    """Adversarial examples for flat inputs x of images `shape` = (C, H, W); images that stay
    robust return their best point. Random draws come from `generator` (on the CPU).
    norm "2" or "1": `window_pairs` in L2 or L1, each restart on the images still robust."""
    p = threat(norm).p
    if p != math.inf:
        out = x.clone()
        todo = torch.arange(len(x), device=x.device)
        for _ in range(max(1, restarts)):
            found = window_pairs(
                model,
                x[todo],
                y[todo],
                eps=eps,
                shape=shape,
                queries=queries,
                p_init=p_init,
                generator=generator,
                taxicab=p == 1,
            )
            out[todo] = found
            todo = todo[model(found).argmax(1) == y[todo]]
            if not len(todo):
                break
        return out
    model.eval()
    c, h, w = shape
    dev = x.device
    out = x.clone()
    lo, hi = (x - eps).clamp(0.0, 1.0), (x + eps).clamp(0.0, 1.0)
    todo = (model(x).argmax(1) == y).nonzero()[:, 0]
    for _ in range(max(1, restarts)):
        if not len(todo):
            break
        ids = todo
        stripes = torch.randint(0, 2, (len(ids), c, 1, w), generator=generator).to(dev)
        stripes = stripes.expand(-1, -1, h, -1).reshape(len(ids), -1).bool()
        xb = torch.where(stripes, hi[ids], lo[ids])
        lo_a, hi_a, y_a = lo[ids], hi[ids], y[ids]
        net = Logits(model)
        marg = margin(net.full(xb), y_a)
        for i in range(queries):
            if i and i % REFRESH == 0:
                marg = margin(net.full(xb), y_a)  # exact again: no drift of the updates
            alive = marg > 0
            if not bool(alive.all()):
                # confirmed by a full pass before an image stops (updates round differently)
                gone = (~alive).nonzero()[:, 0]
                alive[gone] = model(xb[gone]).argmax(1) == y_a[gone]
            if not bool(alive.all()):  # drop the images just broken, keep their point
                out[ids[~alive]] = xb[~alive]
                ids, xb, lo_a, hi_a, y_a, marg = (
                    t[alive] for t in (ids, xb, lo_a, hi_a, y_a, marg)
                )
                net.select(alive.nonzero()[:, 0])
                if not len(ids):
                    break
            n = len(ids)
            side = max(round(math.sqrt(window_fraction(i, queries, p_init) * h * w)), 1)
            side = min(side, h - 1, w - 1)
            # as the official code, a window never touches the last row or column
            idx, _, _ = _windows(n, c, h, w, side, generator, dev, last=False)
            up = torch.randint(0, 2, (n, c), generator=generator).to(dev).bool()
            up = up[:, :, None].expand(-1, -1, side * side).reshape(n, -1)
            old = xb.gather(1, idx)
            hi_w, lo_w = hi_a.gather(1, idx), lo_a.gather(1, idx)
            new = torch.where(up, hi_w, lo_w)
            same = (new == old).all(1)
            if bool(same.any()):
                new[same] = torch.where(up[same], lo_w[same], hi_w[same])
            xb.scatter_(1, idx, new)
            m_new = margin(net.changed(xb, idx, new - old), y_a)
            worse = m_new >= marg
            xb.scatter_(1, idx, torch.where(worse[:, None], old, new))  # undo: the window only
            net.accept(~worse)
            marg = torch.where(worse, marg, m_new)
        out[ids] = xb
        broken = model(out[todo]).argmax(1) != y[todo]
        todo = todo[~broken]
    return out


@functools.lru_cache(maxsize=64)
def _l2_pattern(s: int) -> torch.Tensor:
    """The L2 Square attack's window content, s x s with unit L2 norm: the upper half a
    "pseudo-Gaussian" bump of nested rectangles (weights 1/k^2 for the k-th ring from the
    centre), the lower half the same bump negated (Andriushchenko et al. 2020, Sec. 4)."""

    def bump(rows: int, cols: int) -> torch.Tensor:
        out = torch.zeros(rows, cols)
        r0, c0 = rows // 2, cols // 2
        for k in range(max(r0, c0) + 1):
            out[max(r0 - k, 0) : r0 + k + 1, max(c0 - k, 0) : c0 + k + 1] += 1.0 / (k + 1) ** 2
        return out / out.norm()

    top = s // 2
    pat = torch.cat((bump(top, s), -bump(s - top, s))) if top else -bump(s, s)
    return pat / pat.norm()


def _windows(
    n: int,
    c: int,
    h: int,
    w: int,
    side: int,
    generator: torch.Generator,
    dev: torch.device,
    *,
    last: bool = True,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A random window per image: (flat indices (n, c * side^2), top rows, left columns);
    `last`: the window may touch the last row and column."""
    top = torch.randint(0, h - side + last, (n,), generator=generator).to(dev)
    left = torch.randint(0, w - side + last, (n,), generator=generator).to(dev)
    ar = torch.arange(side, device=dev)
    win = (ar[:, None] * w + ar[None, :]).reshape(-1)
    chan = torch.arange(c, device=dev)[:, None] * (h * w)
    idx = ((top * w + left)[:, None, None] + chan[None] + win[None, None]).reshape(n, -1)
    return idx, top, left


@torch.no_grad()
def window_pairs(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    eps: float,
    shape: tuple[int, int, int],
    queries: int,
    p_init: float,
    generator: torch.Generator,
    taxicab: bool,
) -> torch.Tensor:
    """The Square attack in L2 (Andriushchenko et al. 2020, Algorithm 3), a window pair drawn
    per image and per query; flat inputs x of images `shape`; images that stay robust return
    their best point, every point within eps in L2 and inside [0, 1].

    Start: a 5 x 5 grid of tiles, each the window pattern with a random sign per channel,
    scaled to L2 norm eps. Query i: windows W1 and W2 of side round(sqrt(p_i h w)) (at least
    3, odd); the perturbation's mass on W1 and W2 (plus what the clip to [0, 1] left unused of
    the budget) is put on W1 as the old W1 content (unit norm) plus a fresh signed pattern,
    W2 is emptied, and the whole perturbation is rescaled to norm eps and clipped; kept where
    it lowers the margin. Every query is a full forward pass (the rescale moves every pixel).

    With `taxicab`, the Square attack in L1: the same window pairs with every mass measured
    in L1 (|delta| summed, not squared), the window content of unit L1 norm, the budget eps
    in L1, and the perturbation rescaled to L1 norm eps before the clip to [0, 1] (which only
    shortens it). lilbench's adaptation of the L2 scheme: the official code's L1 Square could
    not be read here, so its window content may differ.
    """
    model.eval()
    c, h, w = shape
    dev = x.device
    n_all = len(x)
    out = x.clone()
    todo = (model(x).argmax(1) == y).nonzero()[:, 0]
    if not len(todo) or eps <= 0:
        return out

    # a perturbation's "mass": sum of squares (L2) or of absolute values (L1), and its norm
    def mass_of(t: torch.Tensor) -> torch.Tensor:
        return t.abs() if taxicab else t * t

    def root(t: torch.Tensor) -> torch.Tensor:
        return t if taxicab else t.sqrt()

    def unit(t: torch.Tensor) -> torch.Tensor:
        size = t.abs().sum(dim=2, keepdim=True) if taxicab else t.norm(dim=2, keepdim=True)
        return t / (size + 1e-12)

    budget = eps if taxicab else eps**2

    def rescale(
        x0: torch.Tensor, delta: torch.Tensor, sq: torch.Tensor | None = None
    ) -> torch.Tensor:
        """x0 + delta scaled to norm eps, clipped to [0, 1] (the clip only shortens it);
        `sq`: delta's mass when known. The scale is rounded down a little so that float32
        rounding cannot put a point outside the ball."""
        norm = mass_of(delta).sum(1, keepdim=True) if sq is None else sq[:, None]
        scale = eps * (1 - 1e-6) / (root(norm.clamp_min(0.0)) + 1e-12)
        return torch.addcmul(x0, delta, scale).clamp_(0.0, 1.0)

    def signed(n: int, side: int) -> torch.Tensor:
        """(n, c, side^2): the pattern, transposed for a random half of the images, with a
        random sign per image and channel."""
        pat = _l2_pattern(side).to(dev)
        flip = torch.rand(n, generator=generator).to(dev) < 0.5
        both = torch.where(flip[:, None], pat.t().reshape(1, -1), pat.reshape(1, -1))
        sign = torch.randint(0, 2, (n, c, 1), generator=generator).to(dev) * 2.0 - 1.0
        pattern = both[:, None, :] * sign
        return unit(pattern) if taxicab else pattern

    ids = todo
    x0, y_a = x[ids], y[ids]
    n = len(ids)
    delta = torch.zeros_like(x0)
    tile = h // 5
    if tile >= 1:
        start = (h - 5 * tile) // 2
        for r in range(h // tile):
            for col in range(w // tile):
                top, left = start + r * tile, start + col * tile
                if top + tile > h or left + tile > w:
                    continue
                ar = torch.arange(tile, device=dev)
                win = ((top + ar)[:, None] * w + (left + ar)[None, :]).reshape(-1)
                idx = (torch.arange(c, device=dev)[:, None] * (h * w) + win[None]).reshape(-1)
                delta[:, idx] += signed(n, tile).reshape(n, -1)
    else:  # images too small for tiles: a random direction
        delta = torch.randn(x0.shape, generator=generator).to(dev)
    xb = rescale(x0, delta)
    marg = margin(model(xb), y_a)
    for i in range(queries):
        alive = marg > 0
        if not bool(alive.all()):
            out[ids[~alive]] = xb[~alive]
            ids, x0, xb, y_a, marg = (t[alive] for t in (ids, x0, xb, y_a, marg))
            if not len(ids):
                break
        n = len(ids)
        side = max(round(math.sqrt(window_fraction(i, queries, p_init) * h * w)), 3)
        side += 1 - side % 2  # odd
        side = min(side, h - 1, w - 1)
        delta = xb - x0
        idx1, t1, l1 = _windows(n, c, h, w, side, generator, dev)
        idx2, t2, l2 = _windows(n, c, h, w, side, generator, dev)
        d1 = delta.gather(1, idx1).reshape(n, c, -1)
        d2 = delta.gather(1, idx2).reshape(n, c, -1)
        # W2's pixels that W1 also covers count once in the windows' mass
        ar = torch.arange(side, device=dev)
        r2, c2 = t2[:, None] + ar, l2[:, None] + ar
        rows_in = (r2 >= t1[:, None]) & (r2 < t1[:, None] + side)
        cols_in = (c2 >= l1[:, None]) & (c2 < l1[:, None] + side)
        shared = (rows_in[:, :, None] & cols_in[:, None, :]).reshape(n, 1, -1)
        mass = mass_of(d1).sum((1, 2)) + (mass_of(d2) * ~shared).sum((1, 2))
        total = mass_of(delta).sum(1)
        spare = (budget - total).clamp(min=0.0) / c
        new = unit(signed(n, side) + unit(d1))
        new = new * root(spare[:, None, None] + mass[:, None, None])
        delta.scatter_(1, idx2, 0.0)
        delta.scatter_(1, idx1, new.reshape(n, -1))
        # only the windows changed: the new squared norm without another full pass
        x_new = rescale(x0, delta, total - mass + mass_of(new).sum((1, 2)))
        m_new = margin(model(x_new), y_a)
        keep = m_new < marg
        rows = keep.nonzero()[:, 0]
        xb[rows] = x_new[rows]
        marg = torch.where(keep, m_new, marg)
    out[ids] = xb
    assert len(out) == n_all
    return out
