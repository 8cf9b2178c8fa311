from __future__ import annotations

import math

import pytest
import torch

from lilbench.errors import ConfigError
from lilbench.objectives.isometry import iso_loss, isometry_error, lil_loss, pair_mask


def brute_force_iso(x: torch.Tensor, phi: torch.Tensor, y: torch.Tensor, mode: str, k: float):
    n = len(x)
    total = x.new_zeros(())
    for i in range(n):
        for j in range(n):
            if mode == "local" and y[i] != y[j]:
                continue
            if i == j:
                continue  # distance 0 on both sides: contributes exactly 0
            dx = torch.sqrt(((x[i] - x[j]) ** 2).sum())
            dp = torch.sqrt(((phi[i] - phi[j]) ** 2).sum())
            total = total + (k * dp - dx) ** 2
    return total / (n * n)  # mean over the whole B x B matrix


@pytest.mark.parametrize("mode", ["local", "global"])
@pytest.mark.parametrize("k", [1.0, 0.5])
def test_iso_loss_matches_double_loop_values_and_gradients(mode: str, k: float) -> None:
    g = torch.Generator().manual_seed(1)
    x = torch.rand(12, 7, generator=g, dtype=torch.float64)
    y = torch.randint(0, 3, (12,), generator=g)
    phi1 = torch.randn(12, 5, generator=g, dtype=torch.float64, requires_grad=True)
    phi2 = phi1.detach().clone().requires_grad_(True)
    fast = iso_loss(x, phi1, y, mode=mode, k=k)
    slow = brute_force_iso(x, phi2, y, mode, k)
    assert torch.allclose(fast, slow, rtol=1e-10, atol=1e-12)
    fast.backward()
    slow.backward()
    assert phi1.grad is not None and phi2.grad is not None
    assert torch.allclose(phi1.grad, phi2.grad, rtol=1e-9, atol=1e-12)
    assert phi1.grad.abs().sum() > 0


def test_iso_loss_is_zero_for_an_isometric_representation() -> None:
    g = torch.Generator().manual_seed(2)
    x = torch.rand(20, 6, generator=g, dtype=torch.float64)
    y = torch.randint(0, 4, (20,), generator=g)
    q, _ = torch.linalg.qr(torch.randn(9, 9, generator=g, dtype=torch.float64))
    # Embed in 9 dims, rotate, translate: distances are unchanged.
    phi = torch.cat([x, torch.zeros(20, 3, dtype=torch.float64)], 1) @ q + 3.0
    assert float(iso_loss(x, phi, y, mode="global")) < 1e-20
    assert isometry_error(x, phi, y) < 1e-10
    # A non-isometry is not zero.
    assert float(iso_loss(x, 2 * phi, y, mode="local")) > 1e-3
    assert isometry_error(x, 2 * phi, y) == pytest.approx(1.0)


def test_global_minus_local_is_exactly_the_cross_class_pairs() -> None:
    g = torch.Generator().manual_seed(3)
    n = 16
    x = torch.rand(n, 5, generator=g, dtype=torch.float64)
    phi = torch.randn(n, 4, generator=g, dtype=torch.float64)
    y = torch.randint(0, 3, (n,), generator=g)
    d_x, d_p = torch.cdist(x, x), torch.cdist(phi, phi)
    cross = (y[:, None] != y[None, :]).double()
    expected = float(((cross * (d_p - d_x)) ** 2).sum()) / n**2
    diff = float(iso_loss(x, phi, y, mode="global") - iso_loss(x, phi, y, mode="local"))
    assert math.isclose(diff, expected, rel_tol=1e-10)
    assert expected > 0


def test_pair_mask_includes_the_diagonal_and_rejects_unknown_modes() -> None:
    y = torch.tensor([0, 1, 0])
    g = pair_mask(y, "local")
    assert torch.equal(g, torch.tensor([[1.0, 0, 1], [0, 1, 0], [1, 0, 1]]))
    assert torch.equal(pair_mask(y, "global"), torch.ones(3, 3))
    with pytest.raises(ConfigError, match="unknown mode"):
        pair_mask(y, "sideways")


def test_lil_loss_combines_alpha_ce_and_beta_iso() -> None:
    g = torch.Generator().manual_seed(4)
    x = torch.rand(10, 6, generator=g)
    phi = torch.randn(10, 4, generator=g)
    logits = torch.randn(10, 3, generator=g)
    y = torch.randint(0, 3, (10,), generator=g)
    parts = lil_loss(logits, phi, x, y, alpha=0.5, beta=2.0, mode="local")
    expected = 0.5 * torch.nn.functional.cross_entropy(logits, y) + 2.0 * iso_loss(x, phi, y)
    assert torch.allclose(parts.total, expected)
    plain = lil_loss(logits, phi, x, y, alpha=1.0, beta=0.0, mode="none")
    assert torch.allclose(plain.total, torch.nn.functional.cross_entropy(logits, y))
