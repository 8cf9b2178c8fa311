"""FAB's move on the CPU, compiled by numba: per row, both hyperplane projections (the
current point's and the clean input's), the step-size mix and the new point, in a handful of
passes over the row (torch needs some thirty full-size passes for the same).

The maths is `fab.project_to_hyperplane` (L-inf), `project_to_hyperplane_l2` and
`project_to_hyperplane_l1` and `fab.torch_step`'s, with float64 sums; tests check the two
agree. numba caches the compiled code beside this file (`cache=True`).
"""

from __future__ import annotations

import numpy as np
from numba import njit

NEWTON_STEPS = 30
LINF, L2, L1 = 0, 1, 2  # the norm of a move, as the kernels take it
FLAGS = {"nsz", "arcp", "contract", "afn", "reassoc"}  # lets LLVM vectorise the sums


@njit(cache=True, fastmath=FLAGS)
def _rooms(p: np.ndarray, w: np.ndarray, s: float, a: np.ndarray, room: np.ndarray) -> None:
    """room_i: how far p_i can move in the direction that moves w . p by sign s."""
    for i in range(p.shape[0]):
        up = w[i] * s > 0
        room[i] = (1.0 - p[i]) if up else p[i]
        a[i] = abs(w[i])


@njit(cache=True, fastmath=FLAGS)
def _sums(a: np.ndarray, room: np.ndarray) -> tuple[float, float, float]:
    total = 0.0
    reach = 0.0
    top = 0.0
    for i in range(a.shape[0]):
        total += a[i]
        reach += a[i] * room[i]
        top = max(top, room[i] if a[i] > 0 else 0.0)
    return total, reach, top


@njit(cache=True, fastmath=FLAGS)
def _h_slope(a: np.ndarray, room: np.ndarray, e: float) -> tuple[float, float]:
    """h(e) = sum a min(room, e) and its slope; kept this simple so that LLVM vectorises it
    (0.2 ns an element here, against 0.8 as part of a larger loop)."""
    h = 0.0
    slope = 0.0
    for i in range(a.shape[0]):
        r = room[i]
        over = r > e
        h += a[i] * (e if over else r)
        slope += a[i] if over else 0.0
    return h, slope


@njit(cache=True, fastmath=FLAGS)
def _norm(a: np.ndarray, room: np.ndarray, c: float, warm: float) -> tuple[float, float]:
    """(e, the largest room): the smallest L-inf norm e at which sum_i a_i min(e, room_i)
    reaches |c| (1.0 where it cannot: every room is used), by Newton's method."""
    need = abs(c)
    total, reach, top = _sums(a, room)
    if need == 0.0:
        return 0.0, top
    if reach < need:
        return 1.0, top
    cold = need / total
    e = warm if warm > 0 else cold
    for _ in range(NEWTON_STEPS):
        h, slope = _h_slope(a, room, e)
        e_new = e + (need - h) / slope if slope > 0 else cold
        if h >= need:
            e_new = min(e_new, e)  # from above the root: one step lands at or below it
        if abs(e_new - e) <= 1e-12 * e + 1e-18:
            return e_new, top
        e = e_new
    return e, top


@njit(cache=True, fastmath=FLAGS)
def _linf_steps(
    a: np.ndarray, room: np.ndarray, c: float, warm: np.ndarray, k: int, m: np.ndarray
) -> float:
    """Per coordinate, the L-inf projection's step size min(room, e) into m; e into
    warm[k]; returns the step's L-inf norm."""
    e, top = _norm(a, room, c, warm[k])
    warm[k] = e
    for i in range(a.shape[0]):
        m[i] = min(room[i], e)
    return max(min(e, top), 1e-8)


@njit(cache=True, fastmath=FLAGS)
def _move(
    x1: np.ndarray,
    x0: np.ndarray,
    w: np.ndarray,
    g: np.ndarray,
    warm: np.ndarray,
    eta: float,
    alpha_max: float,
    out: np.ndarray,
    kind: int,
) -> None:
    """FAB's move of every row: both projections (in the norm `kind`: LINF, L2 or L1), the
    mix."""
    n, dim = x1.shape
    a = np.empty(dim)
    room1 = np.empty(dim)
    room0 = np.empty(dim)
    m1 = np.empty(dim)
    m0 = np.empty(dim)
    heap = np.empty(dim, dtype=np.int64)
    for r in range(n):
        shift = 0.0
        for i in range(dim):
            shift += w[r, i] * (x1[r, i] - x0[r, i])
        c1 = -g[r]  # b - w . x1, with the hyperplane w . z = b = w . x1 - g
        c0 = shift - g[r]  # b - w . x0
        s1 = 1.0 if c1 > 0 else -1.0
        s0 = 1.0 if c0 > 0 else -1.0
        _rooms(x1[r], w[r], s1, a, room1)
        _rooms(x0[r], w[r], s0, a, room0)
        if kind == L2:
            n1 = _l2_steps(a, room1, c1, warm, r, m1)
            n0 = _l2_steps(a, room0, c0, warm, n + r, m0)
        elif kind == L1:
            n1 = _l1_steps(a, room1, c1, m1, heap)
            n0 = _l1_steps(a, room0, c0, m0, heap)
        else:
            n1 = _linf_steps(a, room1, c1, warm, r, m1)
            n0 = _linf_steps(a, room0, c0, warm, n + r, m0)
        alpha = min(max(n1 / (n1 + n0), 0.0), alpha_max)
        for i in range(dim):
            sw = 1.0 if w[r, i] > 0 else (-1.0 if w[r, i] < 0 else 0.0)
            d1 = s1 * sw * m1[i] if c1 != 0 else 0.0
            d0 = s0 * sw * m0[i] if c0 != 0 else 0.0
            v = (x1[r, i] + eta * d1) * (1.0 - alpha) + (x0[r, i] + eta * d0) * alpha
            out[r, i] = min(max(v, 0.0), 1.0)


@njit(cache=True, fastmath=FLAGS)
def _step_back(
    x1: np.ndarray,
    x0: np.ndarray,
    rows: np.ndarray,
    beta: float,
    adv: np.ndarray,
    best: np.ndarray,
    kind: int,
) -> None:
    for k in range(rows.shape[0]):
        r = rows[k]
        if kind == L1:
            total = 0.0
            for i in range(x1.shape[1]):
                total += abs(float(x1[r, i]) - float(x0[r, i]))
            dist = np.float32(total)
        elif kind == L2:
            total = 0.0
            for i in range(x1.shape[1]):
                d = float(x1[r, i]) - float(x0[r, i])
                total += d * d
            dist = np.float32(np.sqrt(total))
        else:
            dist = np.float32(0.0)
            for i in range(x1.shape[1]):
                dist = max(dist, abs(x1[r, i] - x0[r, i]))
        if dist < best[r]:
            best[r] = dist
            adv[r, :] = x1[r, :]
        for i in range(x1.shape[1]):
            x1[r, i] = x0[r, i] + np.float32(beta) * (x1[r, i] - x0[r, i])


@njit(cache=True, fastmath=FLAGS)
def _h_slope_l2(a: np.ndarray, room: np.ndarray, lam: float) -> tuple[float, float]:
    """h(lam) = sum a min(lam a, room) and its slope sum_{lam a < room} a^2 (L2's h)."""
    h = 0.0
    slope = 0.0
    for i in range(a.shape[0]):
        step = lam * a[i]
        over = room[i] > step
        h += a[i] * (step if over else room[i])
        slope += a[i] * a[i] if over else 0.0
    return h, slope


@njit(cache=True, fastmath=FLAGS)
def _multiplier(a: np.ndarray, room: np.ndarray, c: float, warm: float) -> float:
    """The lam >= 0 at which sum_i a_i min(lam a_i, room_i) reaches |c| (-1.0 where it
    cannot: every room is used), by Newton's method from the step without walls (at or
    below the root) or from `warm`."""
    need = abs(c)
    if need == 0.0:
        return 0.0
    reach = 0.0
    total = 0.0
    for i in range(a.shape[0]):
        reach += a[i] * room[i]
        total += a[i] * a[i]
    if reach < need:
        return -1.0
    cold = need / total
    lam = warm if warm > 0 else cold
    for _ in range(NEWTON_STEPS):
        h, slope = _h_slope_l2(a, room, lam)
        new = lam + (need - h) / slope if slope > 0 else cold
        if h >= need:
            new = min(new, lam)
        if abs(new - lam) <= 1e-12 * lam + 1e-18:
            return new
        lam = new
    return lam


@njit(cache=True, fastmath=FLAGS)
def _l2_steps(
    a: np.ndarray, room: np.ndarray, c: float, warm: np.ndarray, k: int, m: np.ndarray
) -> float:
    """Per coordinate, the L2 projection's step size into m (every room where the plane is
    out of reach); the multiplier into warm[k]; returns the step's L2 norm."""
    lam = _multiplier(a, room, c, warm[k])
    warm[k] = max(lam, 0.0)
    total = 0.0
    for i in range(a.shape[0]):
        m[i] = room[i] if lam < 0 else min(lam * a[i], room[i])
        total += m[i] * m[i] if c != 0 and a[i] > 0 else 0.0
    return max(np.sqrt(total), 1e-8)


@njit(cache=True)
def _sift(heap: np.ndarray, a: np.ndarray, top: int, size: int) -> None:
    """Restore the max-heap (by a) of heap[:size] below position `top`."""
    i = top
    while True:
        left = 2 * i + 1
        if left >= size:
            return
        big = left
        if left + 1 < size and a[heap[left + 1]] > a[heap[left]]:
            big = left + 1
        if a[heap[big]] <= a[heap[i]]:
            return
        heap[i], heap[big] = heap[big], heap[i]
        i = big


@njit(cache=True)
def _l1_steps(a: np.ndarray, room: np.ndarray, c: float, m: np.ndarray, heap: np.ndarray) -> float:
    """Per coordinate, the L1 projection's step size into m, and the step's L1 norm.

    Moving coordinate i by t changes w . p by a_i t, so the smallest L1 step that closes the
    gap |c| is a fractional knapsack: the coordinates by decreasing |w_i|, each moved to its
    wall, the last one part of the way (every room where the plane is out of reach). A heap
    pops the few coordinates needed without sorting the row."""
    need = abs(c)
    reach = 0.0
    for i in range(a.shape[0]):
        reach += a[i] * room[i]
        m[i] = 0.0
    if need == 0.0:
        return 1e-8
    total = 0.0
    if reach < need:
        for i in range(a.shape[0]):
            m[i] = room[i]
            total += room[i] if a[i] > 0 else 0.0
        return max(total, 1e-8)
    size = 0
    for i in range(a.shape[0]):
        if a[i] > 0 and room[i] > 0:
            heap[size] = i
            size += 1
    for top in range(size // 2 - 1, -1, -1):
        _sift(heap, a, top, size)
    left = need
    while size > 0:
        i = heap[0]
        size -= 1
        heap[0] = heap[size]
        _sift(heap, a, 0, size)
        gain = a[i] * room[i]
        if gain >= left:
            m[i] = left / a[i]
            total += m[i]
            break
        m[i] = room[i]
        total += room[i]
        left -= gain
    return max(total, 1e-8)


def move(
    kind: int,
    x1: np.ndarray,
    x0: np.ndarray,
    w: np.ndarray,
    g: np.ndarray,
    warm: np.ndarray,
    eta: float,
    alpha_max: float,
    out: np.ndarray,
) -> None:
    """FAB's move in the norm `kind` (LINF, L2 or L1): the new points into `out`, per row
    the two projections' norms (L2: multipliers; L1: left at 0) into `warm` ([x1 rows, x0
    rows], as torch_step returns them)."""
    _move(x1, x0, w, g, warm, eta, alpha_max, out, kind)


def step_back(
    kind: int,
    x1: np.ndarray,
    x0: np.ndarray,
    rows: np.ndarray,
    beta: float,
    adv: np.ndarray,
    best: np.ndarray,
) -> None:
    """For the adversarial rows: keep the point if it is the closest so far (distance in the
    norm `kind`, float64 sums), then move it back towards the clean input by beta, in place."""
    _step_back(x1, x0, rows, beta, adv, best, kind)
