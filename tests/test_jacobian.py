"""The Jacobian objective: its estimate is unbiased, its loss is what it says."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.func import jacrev

from lilbench.models import LILMLP, ModelSpec
from lilbench.objectives import OBJECTIVES
from lilbench.objectives.jacobian import frobenius_estimate


def _model() -> LILMLP:
    torch.manual_seed(0)
    return LILMLP(ModelSpec(input_dim=12, width=9, depth=2, num_classes=5)).double()


def test_random_projection_estimate_is_unbiased() -> None:
    model = _model()
    x = torch.rand(4, 12, dtype=torch.float64, requires_grad=True)
    exact = sum(float(jacrev(model)(x[i : i + 1]).pow(2).sum()) for i in range(4)) / 4
    logits = model(x)
    torch.manual_seed(1)
    draws = [float(frobenius_estimate(logits, x, 1, create_graph=False)) for _ in range(4000)]
    mean = sum(draws) / len(draws)
    assert abs(mean - exact) / exact < 0.03, (mean, exact)
    # One draw alone is not the exact value: the test would notice a degenerate estimator.
    assert max(draws) > 1.2 * exact and min(draws) < 0.8 * exact


def test_loss_equals_direct_computation() -> None:
    model = _model()
    x = torch.rand(6, 12, dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 3, 4, 0])
    obj = OBJECTIVES.get("jacobian").from_dict({"lambda_jr": 0.5, "projections": 2})
    torch.manual_seed(3)
    parts = obj.loss(model, x, y[:, None])
    # The same draws by hand: v uniform on the sphere, C * ||v^T J||^2 per example.
    torch.manual_seed(3)
    xg = x.clone().requires_grad_(True)
    logits = model(xg)
    jac = torch.zeros((), dtype=torch.float64)
    for _ in range(2):
        v = torch.randn(6, 5, dtype=torch.float64)
        v = v / v.norm(dim=1, keepdim=True)
        (g,) = torch.autograd.grad((logits * v).sum(), xg, retain_graph=True)
        jac = jac + 5 * g.pow(2).sum() / 6
    jac = jac / 2
    ce = F.cross_entropy(logits, y)
    assert torch.allclose(parts["jac"], jac) and torch.allclose(parts["ce"], ce)
    assert torch.allclose(parts["total"], ce + 0.25 * jac)
    # The penalty is trained through: it has a gradient with respect to the weights.
    parts["total"].backward()
    assert model.body[0].weight.grad is not None and model.body[0].weight.grad.abs().sum() > 0
