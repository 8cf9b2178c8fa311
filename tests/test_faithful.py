from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from art.attacks.evasion import FastGradientMethod

import lilbench
from lilbench.attacks import FGSM, PGD
from lilbench.attacks import art_backend as art
from lilbench.attacks.faithful import ObjectiveOutputs, PaperObjective, make_objective_classifier
from lilbench.attacks.kernels import art_steps
from lilbench.attacks.runner import run_attack
from lilbench.data import Dataset
from lilbench.objectives.isometry import iso_loss
from lilbench.training.pipeline import Trained


def _objective(beta: float) -> PaperObjective:
    return PaperObjective(num_classes=10, phi_dim=100, beta=beta, mode="local", k=1.0)


def test_paper_objective_is_ce_at_beta_zero_and_adds_l_iso_otherwise(
    small_model: Trained, mnist: Dataset
) -> None:
    model = lilbench.load_model(small_model.checkpoint.path)
    x, y = mnist.x_test[:100], mnist.y_test[:100]
    out = ObjectiveOutputs(model)(x)
    logits, phi = model(x), model.features(x)
    ce = F.cross_entropy(logits, y)
    assert torch.equal(_objective(0.0)(out, y), ce)
    onehot = F.one_hot(y, 10).float()  # ART hands custom losses one-hot labels
    assert torch.equal(_objective(0.0)(out, onehot), ce)
    assert torch.allclose(_objective(2.0)(out, y), ce + 2.0 * iso_loss(x, phi, y))


def _authors_pgd_loop(
    model: torch.nn.Module,
    objective: PaperObjective,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    eps: float,
    step: float,
    steps: int,
) -> torch.Tensor:
    """The authors' stepping written out: every step along the clean-input gradient."""
    out = torch.empty_like(x)
    wrapped = ObjectiveOutputs(model)
    for i in range(0, len(x), 100):
        x0, yb = x[i : i + 100], y[i : i + 100]
        xg = x0.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(objective(wrapped(xg), yb), xg)
        adv = x0.clone()
        for _ in range(steps):
            adv = (adv + step * g.sign()).clamp(0, 1)
            adv = x0 + (adv - x0).clamp(-eps, eps)
        out[i : i + 100] = adv
    return out


def test_paper_fgsm_equals_art_fgm_on_the_objective_and_pgd_variant_is_scaled_fgsm(
    paper_model: Trained, mnist: Dataset
) -> None:
    model = lilbench.load_model(paper_model.checkpoint.path)
    x, y = mnist.x_test[:500], mnist.y_test[:500]
    objective = {"beta": 1.0, "mode": "local", "k": 1.0}
    clf = make_objective_classifier(
        model,
        input_dim=784,
        num_classes=10,
        phi_dim=100,
        beta=1.0,
        mode="local",
        k=1.0,
        device=torch.device("cpu"),
    )
    stock = FastGradientMethod(clf, norm=np.inf, eps=0.1, batch_size=100).generate(
        x.numpy(), y.numpy()
    )
    fgsm = run_attack(
        model,
        FGSM(eps=(0.1, 0.3, 0.5), objective="paper"),
        x,
        y,
        num_classes=10,
        objective=objective,
    )
    signs = art.fgsm_gradient_signs(clf, x.numpy(), y.numpy(), 100)
    assert np.array_equal(stock, art_steps.fgsm_apply(x, signs, 0.1).numpy())
    pred = model(torch.from_numpy(stock)).argmax(1)
    assert int((pred == y).sum()) == fgsm.points[0].correct
    assert fgsm.passed, [c for c in fgsm.checks if not c.passed]
    # One step of the authors' PGD is FGSM at min(step, 0.5) on the same objective.
    one = run_attack(
        model,
        PGD(eps=(0.5,), steps=1, step=(0.1, 0.3, 0.7), paper_faithful=True),
        x,
        y,
        num_classes=10,
        objective=objective,
    )
    assert [p.correct for p in one.points] == [p.correct for p in fgsm.points]
    # Ten steps, written out as the authors do, land on the same examples.
    ten = run_attack(
        model,
        PGD(eps=(0.5,), steps=10, step=(0.01, 0.03), paper_faithful=True),
        x,
        y,
        num_classes=10,
        objective=objective,
    )
    for point in ten.points:
        adv = _authors_pgd_loop(model, _objective(1.0), x, y, eps=0.5, step=point.step, steps=10)
        assert int((model(adv).argmax(1) == y).sum()) == point.correct


def test_paper_objective_differs_from_ce_for_beta_above_zero(
    paper_model: Trained, mnist: Dataset
) -> None:
    model = lilbench.load_model(paper_model.checkpoint.path)
    x, y = mnist.x_test[:300], mnist.y_test[:300]
    kw = dict(num_classes=10, objective={"beta": 1.0, "mode": "local", "k": 1.0})
    std = run_attack(model, FGSM(eps=(0.1,)), x, y, **kw)  # type: ignore[arg-type]
    paper = run_attack(model, FGSM(eps=(0.1,), objective="paper"), x, y, **kw)  # type: ignore[arg-type]
    assert std.points[0].correct != paper.points[0].correct
    with pytest.raises(Exception, match="no random starts"):
        PGD(paper_faithful=True, restarts=1).validate()
