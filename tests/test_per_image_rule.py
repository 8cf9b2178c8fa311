"""The per-image rule (issue 36): an image is robust only when the model classifies it
correctly unperturbed AND at the attack's returned point; records written before the rule
are migrated when read."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch import nn

from lilbench.attacks import FGSM, PGD
from lilbench.attacks import art_backend as art
from lilbench.attacks.base import AttackContext
from lilbench.attacks.checks import pack_mask, unpack_mask
from lilbench.attacks.runner import RULE, run_attack
from lilbench.data import Dataset
from lilbench.results.attack_runs import ensure_attack
from lilbench.results.records import find_record
from lilbench.training.pipeline import Trained


class WrongOnlyWhereClean(nn.Module):
    """Classifies the stored clean images wrongly and anything else (any perturbed copy)
    correctly: piecewise constant, so its gradients are zero, as for logits scaled by 1e4."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("x", x.reshape(len(x), -1).float())
        self.register_buffer("y", y.clone())
        self.anchor = nn.Parameter(torch.zeros(1))  # ART wants a parameter to find a device

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        flat = inputs.reshape(len(inputs), -1).float()
        exact_mode = "donot_use_mm_for_euclid_dist"  # exact 0 for identical rows
        nearest = torch.cdist(flat, self.x, compute_mode=exact_mode).min(dim=1)
        label = self.y[nearest.indices]
        exact = nearest.values < 1e-6
        cls = torch.where(exact, (label + 1) % 10, label)
        # zero but differentiable in the input, as a saturated softmax is
        return 10.0 * nn.functional.one_hot(cls, 10).float() + 0.0 * flat.sum(1, keepdim=True)


def test_an_image_wrong_unperturbed_is_not_robust_even_if_the_attack_returns_it_correct(
    mnist: Dataset,
) -> None:
    x, y = mnist.x_test[:64], mnist.y_test[:64]
    model = WrongOnlyWhereClean(x, y).eval()
    spec = PGD(eps=(0.1,), step=None, steps=3, restarts=1).validate()  # a random start
    outcome = run_attack(model, spec, x, y, num_classes=10, seed=0)
    assert outcome.clean_correct == 0
    # the returned points are classified correctly (the rule before counted them robust) ...
    clf = art.make_classifier(model, input_dim=784, num_classes=10, device=torch.device("cpu"))
    ctx = AttackContext(clf, x.numpy(), y.numpy(), seed=0, batch_size=spec.batch_size)
    adv = spec.generate(ctx, spec.points()[0], slice(None))
    assert int((model(adv).argmax(1) == y).sum()) == 64
    point = outcome.points[0]
    # ... but none counts as robust, by either counting path
    assert point.correct == 0 and point.recomputed_correct == 0
    assert not unpack_mask(point.correct_bits, 64).any()
    assert unpack_mask(outcome.clean_bits, 64).sum() == 0
    assert outcome.passed, [c for c in outcome.checks if not c.passed]


def test_a_record_written_before_the_rule_is_migrated_once_with_what_changed(
    small_model: Trained, tmp_path: Path, mnist: Dataset
) -> None:
    ckpt = small_model.checkpoint
    spec = FGSM(eps=(0.05, 0.1)).validate()
    run = ensure_attack(ckpt, spec, runs_dir=tmp_path, limit=200)
    assert run.record.rule == RULE and run.record.clean.bits
    clean = unpack_mask(run.record.clean.bits, 200)
    wrong = int(np.flatnonzero(~clean)[0])
    # as an earlier lilbench wrote it: no rule, and one image wrong unperturbed yet counted
    # correct at the returned point of eps 0.1
    raw = json.loads(run.path.read_text())
    del raw["rule"], raw["clean"]["bits"]
    original = [dict(p) for p in raw["points"]]
    bits = unpack_mask(raw["points"][1]["correct_bits"], 200)
    bits[wrong] = True
    raw["points"][1].update(correct_bits=pack_mask(bits), correct=int(bits.sum()))
    run.path.write_text(json.dumps(raw))

    found = find_record(tmp_path, ckpt, spec, limit=200, seed=0)
    assert found is not None and found.rule == RULE
    assert found.migrated is not None and found.migrated["image_points_changed"] == 1
    assert [p.correct for p in found.points] == [p["correct"] for p in original]
    assert [p.correct_bits for p in found.points] == [p["correct_bits"] for p in original]
    stamp = found.migrated["at"]
    again = find_record(tmp_path, ckpt, spec, limit=200, seed=0)
    assert again is not None and again.migrated is not None and again.migrated["at"] == stamp
