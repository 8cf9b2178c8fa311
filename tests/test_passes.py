"""Work counted (issue 36): forward and backward passes per image in every attack point,
checked against the algorithms' arithmetic, and AutoAttack's per member."""

from __future__ import annotations

import pytest
import torch

import lilbench
from lilbench.attacks import FGSM, PGD, AutoAttackSpec
from lilbench.attacks.kernels.common import PassCounter
from lilbench.attacks.runner import run_attack
from lilbench.data import Dataset
from lilbench.training.pipeline import Trained


@pytest.mark.parametrize(("steps", "restarts"), [(3, 0), (3, 2), (5, 1)])
def test_pgd_passes_follow_its_arithmetic(
    small_model: Trained, mnist: Dataset, steps: int, restarts: int
) -> None:
    # 130 images in batches of 64: the counts must not depend on the batching
    model = lilbench.load_model(small_model.checkpoint.path)
    x, y = mnist.x_test[:130], mnist.y_test[:130]
    spec = PGD(eps=(0.1,), step=None, steps=steps, restarts=restarts, batch_size=64)
    outcome = run_attack(model, spec.validate(), x, y, num_classes=10, seed=0)
    passes = outcome.points[0].passes
    # ART's PGD: one gradient per step and start; with random starts, two predictions per
    # start beside them (its success check of the start and of the result)
    starts = max(1, restarts)
    forward = steps if restarts == 0 else restarts * (steps + 2)
    assert passes == {"forward": forward, "backward": starts * steps}


def test_fgsm_counts_its_one_gradient_once(small_model: Trained, mnist: Dataset) -> None:
    model = lilbench.load_model(small_model.checkpoint.path)
    outcome = run_attack(
        model,
        FGSM(eps=(0.05, 0.1)).validate(),
        mnist.x_test[:40],
        mnist.y_test[:40],
        num_classes=10,
    )
    # the clean-input gradient is computed at the first point and shared by the others
    assert [p.passes for p in outcome.points] == [
        {"forward": 1.0, "backward": 1.0},
        {"forward": 0.0, "backward": 0.0},
    ]


def test_autoattack_members_add_up_to_the_point(small_model: Trained, mnist: Dataset) -> None:
    model = lilbench.load_model(small_model.checkpoint.path)
    x, y = mnist.x_test[:12], mnist.y_test[:12]
    spec = AutoAttackSpec(eps=(0.02,)).validate()
    point = run_attack(model, spec, x, y, num_classes=10, seed=0).points[0]
    assert point.passes is not None and point.members is not None
    members = point.members
    assert next(iter(members)) == "apgd-ce" and len(members) >= 2
    # besides the members: one clean prediction, one pass for the targets' order, and one
    # row to read the number of classes
    total = sum(m["forward"] for m in members.values())
    assert point.passes["forward"] == pytest.approx(total + 2 + 1 / len(x), abs=1e-9)
    assert point.passes["backward"] == pytest.approx(sum(m["backward"] for m in members.values()))
    if "square" in members:  # gradient-free
        assert members["square"]["backward"] == 0


def test_the_counter_changes_no_number(small_model: Trained, mnist: Dataset) -> None:
    model = lilbench.load_model(small_model.checkpoint.path).eval()
    counter = PassCounter(model)
    x = mnist.x_test[:7].clone().requires_grad_(True)
    out = counter(x)
    assert torch.equal(out, model(x))
    out.sum().backward()
    assert counter.snapshot() == (7, 7)


def test_the_authors_fgsm_counts_its_objective_networks_passes(
    paper_model: Trained, mnist: Dataset
) -> None:
    # their objective runs on a classifier of its own ([logits | phi | x] per row): its one
    # gradient per image is counted like any other attack's
    model = lilbench.load_model(paper_model.checkpoint.path)
    spec = FGSM(eps=(0.05, 0.1), objective="paper").validate()
    objective = {"beta": 1.0, "mode": "local", "k": 1.0}
    x, y = mnist.x_test[:40], mnist.y_test[:40]
    outcome = run_attack(model, spec, x, y, num_classes=10, objective=objective)
    assert [p.passes for p in outcome.points] == [
        {"forward": 1.0, "backward": 1.0},
        {"forward": 0.0, "backward": 0.0},
    ]
