"""Threat models: the exact L1 projection against an independent bisection, every norm's
ball, start, step and dual norm checked by their definitions."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lilbench.errors import ConfigError
from lilbench.threats import THREATS, keys, threat


def _reference_l1_box(v: np.ndarray, x: np.ndarray, eps: float) -> np.ndarray:
    """Bisection on the threshold lam of d_i = sign(v_i) min(max(|v_i| - lam, 0), u_i)
    (written apart from the sort-based code: 200 halvings in float64)."""
    room = np.where(v >= 0, 1.0 - x, x)
    a = np.abs(v)

    def total(lam: float) -> float:
        return float(np.minimum(np.maximum(a - lam, 0.0), room).sum())

    lam = 0.0
    if total(0.0) > eps:
        lo, hi = 0.0, float(a.max())
        for _ in range(200):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if total(mid) > eps else (lo, mid)
        lam = hi
    return np.sign(v) * np.minimum(np.maximum(a - lam, 0.0), room)


def _case(seed: int, d: int, kind: str) -> tuple[torch.Tensor, torch.Tensor, float]:
    gen = np.random.default_rng(seed)
    x = gen.random(d)
    if kind == "edges":  # pixels at 0 and 1, pushed outward and inward
        x[: d // 2] = gen.choice([0.0, 1.0], d // 2)
    v = gen.normal(0, 0.5, d)
    eps = float(gen.uniform(0.05, 3.0))
    if kind == "sparse":  # l1-APGD's case: most coordinates unmoved, some at the box's walls
        v[gen.random(d) < 0.9] = 0.0
        x[: d // 4] = gen.choice([0.0, 1.0], d // 4)
        eps = float(gen.uniform(0.01, 0.5)) * max(np.abs(v).sum(), 1e-3)
    if kind == "inside":  # already in ball and box: the projection is the identity
        v = np.clip(x + v, 0, 1) - x
        v *= min(1.0, 0.9 * eps / max(np.abs(v).sum(), 1e-12))
    return torch.from_numpy(v)[None], torch.from_numpy(x)[None], eps


@pytest.mark.parametrize("kind", ["random", "inside", "edges", "sparse"])
def test_l1_projection_equals_bisection_reference(kind: str) -> None:
    l1 = threat("l1")
    for seed in range(40):
        v, x, eps = _case(seed, 50 + seed, kind)
        ours = l1.project(v, x, eps)[0].numpy()
        ref = _reference_l1_box(v[0].numpy(), x[0].numpy(), eps)
        assert np.allclose(ours, ref, atol=1e-10), (seed, np.abs(ours - ref).max())
        assert np.abs(ours).sum() <= eps + 1e-9
        y = x[0].numpy() + ours
        assert y.min() >= -1e-12 and y.max() <= 1 + 1e-12
        if kind == "inside":
            assert np.allclose(ours, v[0].numpy(), atol=1e-12)


def test_l1_projection_of_rows_of_any_sparsity_is_each_rows_own() -> None:
    """Rows projected together (where only the nonzero coordinates are sorted, as many as
    the densest row has) equal each row projected alone, bit for bit, and the reference."""
    gen = np.random.default_rng(7)
    d = 300
    x = gen.random((12, d))
    v = gen.normal(0, 0.3, (12, d))
    for i, dense in enumerate((0.0, 0.01, 0.05, 0.2, 0.5, 0.9) * 2):
        v[i, gen.random(d) >= dense] = 0.0
    v[6] = 0.0  # a row with nothing moved
    eps = 1.5
    together = threat("l1").project(torch.from_numpy(v), torch.from_numpy(x), eps)
    for i in range(12):
        alone = threat("l1").project(
            torch.from_numpy(v[i : i + 1]), torch.from_numpy(x[i : i + 1]), eps
        )
        assert torch.equal(together[i], alone[0]), i
        ref = _reference_l1_box(v[i], x[i], eps)
        assert np.allclose(together[i].numpy(), ref, atol=1e-10), i


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 30), st.floats(0.0, 5.0))
def test_l1_projection_is_nearest_feasible_point(seed: int, d: int, eps: float) -> None:
    """No feasible point (random, or on the segment to the projection) is nearer to v."""
    gen = np.random.default_rng(seed)
    x = torch.from_numpy(gen.random((1, d)))
    v = torch.from_numpy(gen.normal(0, 1, (1, d)))
    p = threat("l1").project(v, x, eps)
    assert float(p.abs().sum()) <= eps + 1e-9
    best = float((v - p).norm())
    for _ in range(20):
        w = threat("l1").project(torch.from_numpy(gen.normal(0, 1, (1, d))), x, eps)
        assert best <= float((v - w).norm()) + 1e-9


@pytest.mark.parametrize("name", ["linf", "l2", "l1"])
def test_projection_start_noise_and_step_respect_the_ball(name: str) -> None:
    t = threat(name)
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(64, 30, generator=gen, dtype=torch.float64)
    eps = {"linf": 0.1, "l2": 0.8, "l1": 2.0}[name]
    delta = t.project(torch.randn(64, 30, generator=gen, dtype=torch.float64) * 3, x, eps)
    assert (t.norm_of(delta) <= eps * (1 + 1e-9)).all()
    assert ((x + delta) >= 0).all() and ((x + delta) <= 1).all()
    start = t.random_start(x, eps, gen)
    assert (t.distance(start, x) <= eps * (1 + 1e-9)).all()
    assert (start >= 0).all() and (start <= 1).all() and not torch.equal(start, x)
    rng = np.random.default_rng(0)
    draws = np.stack([t.sample_ball((30,), eps, rng) for _ in range(500)])
    norms = np.linalg.norm(draws, ord=t.p, axis=1)
    assert (norms <= eps * (1 + 1e-9)).all()
    # uniform in a 30-dimensional ball: the radius has P(r <= eps * q) = q^30
    assert abs(float(np.mean(norms <= eps * 0.98)) - 0.98**30) < 0.08
    g = torch.randn(8, 30, generator=gen, dtype=torch.float64)
    step = t.ascent(g)
    assert torch.allclose(t.norm_of(step), torch.ones(8, dtype=torch.float64))
    gain = (step * g).sum(1)
    # the steepest direction reaches the dual norm (L1's sparse step: at most that)
    if name == "l1":
        assert (gain > 0).all() and (gain <= t.dual_norm(g) + 1e-12).all()
    else:
        assert torch.allclose(gain, t.dual_norm(g))


@pytest.mark.parametrize("name", ["linf", "l2", "l1"])
def test_ball_low_is_the_minimum_over_the_ball(name: str) -> None:
    """a . x0 - eps ||a||_dual: attained by a point of the ball, beaten by none sampled."""
    t = threat(name)
    gen = torch.Generator().manual_seed(2)
    a = torch.randn(1, 1, 12, generator=gen, dtype=torch.float64)
    x0 = torch.rand(1, 12, generator=gen, dtype=torch.float64)
    low = float(t.ball_low(a, torch.zeros(1, 1, dtype=torch.float64), x0, 0.5))
    rng = np.random.default_rng(3)
    pts = np.stack([t.sample_ball((12,), 0.5, rng) for _ in range(2000)])
    values = (torch.from_numpy(pts) + x0) @ a[0, 0]
    assert float(values.min()) >= low - 1e-12
    worst = -0.5 * t.ascent(a[0])  # the minimiser, where the step is the exact steepest one
    if name != "l1":
        assert math.isclose(float((x0 + worst) @ a[0, 0]), low, abs_tol=1e-9)


def test_lookup_by_key_name_and_number() -> None:
    assert keys() == ("inf", "2", "1")
    assert threat("inf") is threat("linf") is THREATS.get("linf")
    assert threat(2) is threat(2.0) is threat("2") is threat("L2")
    assert threat("1").label == "L1" and threat("1").suffix == "-l1"
    with pytest.raises(ConfigError, match="unknown norm '3'; known: inf, 2, 1"):
        threat("3")
