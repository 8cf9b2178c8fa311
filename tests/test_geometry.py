"""Neural collapse, linear CKA and effective rank on cases with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from lilbench.geometry import effective_rank, linear_cka, nc1, nc2, nc4


def test_nc1_is_zero_when_every_class_is_one_point() -> None:
    rng = np.random.default_rng(0)
    means = rng.normal(size=(5, 8))
    y = np.repeat(np.arange(5), 7)
    assert nc1(means[y], y) == pytest.approx(0.0, abs=1e-12)


def test_nc1_of_two_gaussian_classes_equals_its_closed_form() -> None:
    # classes at +-m e1, each with exactly isotropic within-class covariance sigma^2 I
    # (points mu +- sigma sqrt(d) e_k): NC1 = tr(sigma^2 I (e1 e1^T / m^2)) / 2
    d, m, sigma = 6, 2.0, 0.5
    pts, labels = [], []
    for c, sign in enumerate((1.0, -1.0)):
        mu = sign * m * np.eye(d)[0]
        for k in range(d):
            for s in (1.0, -1.0):
                pts.append(mu + s * sigma * np.sqrt(d) * np.eye(d)[k])
                labels.append(c)
    assert nc1(np.array(pts), np.array(labels)) == pytest.approx(sigma**2 / (2 * m**2), rel=1e-12)


def test_nc2_is_zero_for_a_simplex_and_not_otherwise() -> None:
    c = 10
    simplex = np.eye(c) - 1.0 / c  # the simplex ETF: equal norms, cosines -1 / (C - 1)
    y = np.arange(c)
    equinorm, equiangular = nc2(simplex, y)
    assert equinorm == pytest.approx(0, abs=1e-12) and equiangular == pytest.approx(0, abs=1e-12)
    rng = np.random.default_rng(1)
    skewed = nc2(rng.normal(size=(c, 20)) * np.arange(1, c + 1)[:, None], y)
    assert skewed[0] > 0.1 and skewed[1] > 0.01


def test_nc4_counts_disagreements_with_the_nearest_mean() -> None:
    h = np.array([[0.0], [0.2], [1.0], [1.2]])
    y = np.array([0, 0, 1, 1])
    assert nc4(h, y, np.array([0, 0, 1, 1])) == 0.0
    assert nc4(h, y, np.array([1, 0, 1, 1])) == 0.25


def test_linear_cka_known_answers() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(500, 20))
    q, _ = np.linalg.qr(rng.normal(size=(20, 20)))
    assert linear_cka(x, x) == pytest.approx(1.0, abs=1e-12)
    assert linear_cka(x, 3.7 * x @ q) == pytest.approx(1.0, abs=1e-10)  # rotated, scaled
    # independent random representations: E[CKA] ~ p q / n-ish; at n = 500, p = q = 20 it
    # stays below 0.1
    assert linear_cka(x, rng.normal(size=(500, 20))) < 0.1
    # the n x n route (features outnumber images) gives the same value
    wide = rng.normal(size=(30, 100))
    assert linear_cka(wide, wide @ np.linalg.qr(rng.normal(size=(100, 100)))[0]) == pytest.approx(
        1.0
    )


def test_effective_rank_known_answers() -> None:
    rng = np.random.default_rng(3)
    iso = rng.normal(size=(20000, 10))
    assert effective_rank(iso) == pytest.approx(10, rel=0.02)
    line = rng.normal(size=(500, 1)) @ rng.normal(size=(1, 10))
    assert effective_rank(line) == pytest.approx(1.0, abs=1e-6)
    assert effective_rank(np.ones((5, 3))) == 0.0
