"""The verdict's statistics: bootstrap coverage on simulated data, Holm by hand."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import attack_record

from lilbench.results.stats import hierarchical_bootstrap, holm
from lilbench.schemas import AttackRecord


def _simulate(rng: np.random.Generator, effect: float, seeds: int = 3, n: int = 400) -> tuple:
    """Per-image correctness of two settings on the same test images: image difficulty
    p_i, a small seed shift, Bernoulli outcomes; the population difference is `effect`."""
    p = rng.uniform(0.2, 0.75, size=n)  # a fresh test sample from the population each time
    shift = lambda: rng.normal(0, 0.01, size=(seeds, 1))  # noqa: E731
    a = rng.random((seeds, n)) < np.clip(p + effect + shift(), 0, 1)
    b = rng.random((seeds, n)) < np.clip(p + shift(), 0, 1)
    return a, b


def test_bootstrap_interval_of_a_difference_covers_the_true_effect_about_95_percent() -> None:
    rng = np.random.default_rng(0)
    effect, sims = 0.05, 200
    covered = 0
    for k in range(sims):
        a, b = _simulate(rng, effect)
        boot = hierarchical_bootstrap(a, b, resamples=500, seed=k)
        covered += boot.low <= effect <= boot.high
    assert 0.90 <= covered / sims <= 0.99, covered / sims


def test_bootstrap_is_seeded_paired_and_detects_what_it_should() -> None:
    rng = np.random.default_rng(1)
    a, b = _simulate(rng, 0.08, n=1000)
    one = hierarchical_bootstrap(a, b, resamples=1000, seed=3)
    assert one == hierarchical_bootstrap(a, b, resamples=1000, seed=3)
    assert one.p_value < 0.01 and one.low > 0
    same = hierarchical_bootstrap(a, a, resamples=1000, seed=3)
    assert same.value == same.low == same.high == 0.0 and same.p_value == 1.0
    acc = hierarchical_bootstrap(a, resamples=1000, seed=3)
    assert acc.low < a.mean() < acc.high
    with pytest.raises(ValueError, match="seeds, images"):
        hierarchical_bootstrap(np.zeros(5, dtype=bool))


def test_holm_matches_a_hand_worked_example() -> None:
    # p sorted: 0.01 (x4 = 0.04), 0.02 (x3 = 0.06), 0.03 (x2 = 0.06, monotone), 0.5 (x1 = 0.5)
    assert holm([0.03, 0.5, 0.01, 0.02]) == pytest.approx([0.06, 0.5, 0.04, 0.06])
    assert holm([0.9, 0.8]) == pytest.approx([1.0, 1.0])  # 0.8 x 2 capped at 1; then monotone


def test_minimal_eps_is_the_smallest_breaking_eps_of_any_attack() -> None:
    from types import SimpleNamespace

    from lilbench.attacks.checks import pack_mask
    from lilbench.results.per_image import minimal_eps

    def rec(points: dict[float, list[bool]]) -> AttackRecord:
        return attack_record(
            {
                "sweep": "eps",
                "samples": {"n": 4},
                "points": [
                    {"eps": e, "n": 4, "correct_bits": pack_mask(np.array(m))}
                    for e, m in points.items()
                ],
            }
        )

    fgsm = rec({0.1: [True, False, True, True], 0.3: [True, False, False, True]})
    pgd = rec({0.1: [True, False, True, False]})
    r = SimpleNamespace(completed_attacks=lambda: {"fgsm": fgsm, "pgd": pgd})
    clean = np.array([True, True, True, False])
    got = minimal_eps(r, clean)  # type: ignore[arg-type]
    assert got.tolist() == [np.inf, 0.1, 0.3, 0.0]


def test_median_bootstrap_handles_never_broken_images() -> None:
    values = np.array([[0.1, 0.2, np.inf, np.inf, np.inf], [0.1, 0.3, np.inf, np.inf, 0.2]])
    boot = hierarchical_bootstrap(values, resamples=300, seed=0, statistic="median")
    assert boot.value == np.inf and boot.low <= boot.high
    finite = hierarchical_bootstrap(values[:, :2], resamples=300, seed=0, statistic="median")
    assert 0.1 <= finite.low <= finite.value <= finite.high <= 0.3


def test_a_large_family_can_still_find_a_clear_change() -> None:
    """2,000 resamples put a floor of 1/2001 under every bootstrap p-value; Holm over 120
    comparisons needs p < 0.05/120 = 0.00042, so a change far from zero (as PGD-AT's +52 pp
    under Gaussian noise in the defences report) could never be significant. The floor is
    resolved where it would decide; a small family and a null change stay as they were."""
    from lilbench.results.stats import resolve_floor

    rng = np.random.default_rng(0)
    clear = (rng.random((3, 500)) < 0.9, rng.random((3, 500)) < 0.5)
    null = (rng.random((3, 500)) < 0.5, rng.random((3, 500)) < 0.5)
    family = [clear] * 60 + [null] * 60
    boots = [hierarchical_bootstrap(a, b, resamples=2000, seed=0) for a, b in family]
    plain = [b.p_value for b in boots]
    assert plain[0] == pytest.approx(1 / 2001)
    assert min(holm(plain)) >= 0.05  # the floor alone decides: nothing significant

    calls: list[tuple[int, int]] = []

    def redo(i: int, resamples: int) -> float:
        calls.append((i, resamples))
        a, b = family[i]
        return hierarchical_bootstrap(a, b, resamples=resamples, seed=0).p_value

    resolved = holm(resolve_floor(plain, 2000, redo))
    assert all(p < 0.05 for p in resolved[:60])  # the clear changes
    assert all(p >= 0.05 for p in resolved[60:])  # the null ones
    assert {r for _, r in calls} == {24000} and {i for i, _ in calls} == set(range(60))
    calls.clear()
    small = plain[:10] + plain[60:70]  # 20 comparisons: 20/2001 < 0.05, nothing redone
    assert resolve_floor(small, 2000, redo) == small and not calls
