"""Attack optimality (AttackBench's local optimality) and the per-image rule, on records built
by hand with known answers."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from helpers import attack_record

from lilbench.attacks.checks import pack_mask
from lilbench.reports.optimality import local_optimality, optimality
from lilbench.results.per_image import minimal_eps
from lilbench.schemas import AttackRecord


def _rec(points: dict[float, list[bool]]) -> AttackRecord:
    n = len(next(iter(points.values())))
    return attack_record(
        {
            "sweep": "eps",
            "samples": {"n": n},
            "points": [
                {"eps": e, "n": n, "correct_bits": pack_mask(np.array(m))}
                for e, m in points.items()
            ],
        }
    )


def test_local_optimality_is_the_ratio_of_areas_over_the_attacks_grid() -> None:
    clean = np.ones(4, dtype=bool)
    weak = _rec({0.1: [True, True, True, False], 0.2: [True, True, False, False]})
    strong = _rec({0.1: [True, False, True, False], 0.2: [True, False, False, False]})
    r = SimpleNamespace(completed_attacks=lambda: {"weak": weak, "strong": strong})
    best = minimal_eps(r, clean)  # type: ignore[arg-type]
    assert best.tolist() == [np.inf, 0.1, 0.2, 0.1]
    # rho* = [0.5, 0.25], weak's rho = [0.75, 0.5]: areas 0.0375 and 0.0625
    assert local_optimality(weak, clean, best) == pytest.approx(0.6)
    assert local_optimality(strong, clean, best) == pytest.approx(1.0)
    one_point = _rec({0.1: [True, True, True, False]})
    assert local_optimality(one_point, clean, best) == pytest.approx(0.5 / 0.75)


def test_an_image_misclassified_clean_is_never_robust() -> None:
    # the attack's returned point is classified correctly on image 3, which the model gets
    # wrong unperturbed: it must not count as robust, nor lift the attack's optimality
    clean = np.array([True, True, True, False])
    rec = _rec({0.1: [True, False, True, True]})
    r = SimpleNamespace(completed_attacks=lambda: {"a": rec}, label="beta=0", seed=0)
    best = minimal_eps(r, clean)  # type: ignore[arg-type]
    assert best.tolist() == [np.inf, 0.1, np.inf, 0.0]
    assert local_optimality(rec, clean, best) == pytest.approx(1.0)
    found = optimality([r], {("beta=0", 0): clean}, "inf")  # type: ignore[list-item]
    assert found == {"a": {"beta=0": [pytest.approx(1.0)]}}


def test_everything_broken_is_optimal() -> None:
    clean = np.ones(3, dtype=bool)
    rec = _rec({0.1: [False, False, False], 0.3: [False, False, False]})
    assert local_optimality(rec, clean, np.full(3, 0.1)) == 1.0


def test_the_table_names_the_weakest_link_and_needs_two_attacks() -> None:
    from lilbench.reports.optimality import optimality_table

    clean = np.ones(4, dtype=bool)
    weak = _rec({0.1: [True, True, True, False], 0.2: [True, True, False, False]})
    strong = _rec({0.1: [True, False, True, False], 0.2: [True, False, False, False]})
    setting = SimpleNamespace(values={"beta": 0.0}, label="beta=0")
    r = SimpleNamespace(
        completed_attacks=lambda: {"weak": weak, "strong": strong},
        label="beta=0",
        seed=0,
        setting=setting,
        beta=0.0,
    )
    masks = {("beta=0", 0): clean}
    found = optimality_table([r], masks, "inf", ["strong", "weak"])  # type: ignore[list-item]
    assert found is not None
    (_header, rows), sentence = found
    assert [row[0] for row in rows] == ["strong", "weak"]
    assert rows[1][-1] == "0.600" and "Weakest link in L-inf: weak" in sentence
    alone = SimpleNamespace(**{**vars(r), "completed_attacks": lambda: {"weak": weak}})
    assert optimality_table([alone], masks, "inf", ["weak"]) is None  # type: ignore[list-item]


def test_the_work_table_says_why_passes_are_missing() -> None:
    from lilbench.reports.optimality import work_table

    counted = attack_record(
        {
            "points": [{"eps": 0.1, "passes": {"forward": 3.0, "backward": 2.0}}],
            "timings": {
                "total_seconds": 5.5,
                "check_seconds": 1.5,
                "check_forward_per_image": 7.0,
                "check_backward_per_image": 0.0,
            },
        }
    )
    paper = attack_record(
        {
            "label": "pgd-paper",
            "attack": "pgd",
            "sweep": "step",
            "params": {"name": "pgd", "paper_faithful": True, "eps": [0.5], "step": [0.1]},
            "points": [{"eps": 0.5, "step": 0.1}],
        }
    )
    old = attack_record({"label": "pgd", "points": [{"eps": 0.1}]})
    r = SimpleNamespace(completed_attacks=lambda: {"fgsm": counted, "pgd-paper": paper, "pgd": old})
    found = work_table([r], ["fgsm", "pgd", "pgd-paper"])  # type: ignore[list-item]
    assert found is not None
    rows = {row[0]: row[1:] for row in found[1]}
    # the checks' seconds and passes apart from the attack's (issue 48)
    assert rows["fgsm"] == ["4.0", "3.0", "2.0", "1.5", "7.0"]
    assert rows["pgd"][-2:] == ["-", "-"]  # an earlier record: no split
    assert rows["pgd-paper"][1] == "not counted (authors' objective)"
    assert rows["pgd"][1] == "not counted (earlier record)"
