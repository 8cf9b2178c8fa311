"""L1, the third norm, end to end: attacks stay in the L1 ball and box and grow no weaker
from FGSM to PGD to l1-APGD, certificates over L1 balls are sound and exact on one linear
layer, no image certified is broken, and uniform L1 noise lies in its ball."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from lilbench.attacks.parse import parse_attack
from lilbench.certify.bounds import Chain, margin_matrix, margins
from lilbench.errors import ConfigError
from lilbench.threats import threat

L1_BOUNDS = ("lipschitz", "ibp", "crown", "alpha-crown")


def _l1_points(x: torch.Tensor, eps: float, count: int, gen: torch.Generator) -> torch.Tensor:
    """Points of the L1 ball around each row of x, clipped into [0, 1] (clipping moves a
    point toward its centre, so it stays in the ball): inside, on the surface, and at the
    vertices +-eps e_i (where a linear function's minimum over the ball lies)."""
    e = -torch.log(torch.rand(count, *x.shape, generator=gen, dtype=torch.float64))
    signs = torch.where(torch.rand(e.shape, generator=gen) < 0.5, -1.0, 1.0).double()
    d = signs * e / e.sum(-1, keepdim=True)
    r = torch.rand(count, x.shape[0], 1, generator=gen, dtype=torch.float64)
    r[: count // 2] = 1.0
    pts = [(x + eps * r * d).clamp(0, 1)]
    eye = torch.eye(x.shape[1], dtype=torch.float64)
    for v in (eye, -eye):
        pts.append((x[None] + eps * v[:, None, :]).clamp(0, 1))
    return torch.cat(pts)


@pytest.mark.parametrize("act", [nn.Tanh, nn.ReLU])
def test_no_point_of_the_l1_ball_beats_any_bound(act: type[nn.Module]) -> None:
    for seed in range(3):
        torch.manual_seed(seed)
        layers: list[nn.Module] = [nn.Linear(6, 8), act(), nn.Linear(8, 8), act()]
        layers.append(nn.Linear(8, 4))
        for m in layers:
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, std=1.5 / m.in_features**0.5)
        net = nn.Sequential(*layers).double()
        chain = Chain.from_layers(list(net))
        gen = torch.Generator().manual_seed(seed)
        x = torch.rand(5, 6, generator=gen, dtype=torch.float64)
        labels = torch.randint(0, 4, (5,), generator=gen)
        eps = 0.1 + float(torch.rand(1, generator=gen)) * 0.8
        bounds = {k: margins(k, chain, x, labels, eps, norm="1") for k in L1_BOUNDS}
        spec = margin_matrix(labels, 4)
        with torch.no_grad():
            for p in _l1_points(x, eps, 3000, gen):
                m = (spec @ net(p)[:, :, None])[..., 0]
                for name, b in bounds.items():
                    assert (m >= b - 1e-9).all(), (name, seed, float((b - m).max()))
        assert (bounds["crown"] >= bounds["ibp"] - 1e-12).all()
        assert (bounds["alpha-crown"] >= bounds["crown"] - 1e-12).all()
        # the L1 ball lies inside the L-inf ball (and the L2 ball) of the same radius
        for name in ("ibp", "crown"):
            for other in ("inf", "2"):
                looser = margins(name, chain, x, labels, eps, norm=other)
                assert (bounds[name] >= looser - 1e-12).all(), (name, other)


@pytest.mark.parametrize("eps", [0.05, 0.3])
def test_on_one_linear_layer_every_l1_bound_is_the_closed_form(eps: float) -> None:
    """A linear margin's minimum over an L1 ball inside [0, 1] is margin - eps * ||w_y -
    w_j||_inf (the dual norm): every method gives exactly that."""
    torch.manual_seed(5)
    net = nn.Sequential(nn.Linear(6, 4)).double()
    chain = Chain.from_layers(list(net))
    x = eps + torch.rand(9, 6, dtype=torch.float64) * (1 - 2 * eps)
    labels = torch.randint(0, 4, (9,))
    spec = margin_matrix(labels, 4)
    w = net[0].weight.detach()
    with torch.no_grad():
        exact = (spec @ net(x)[:, :, None])[..., 0] - eps * (spec @ w).abs().amax(-1)
    for name in L1_BOUNDS:
        got = margins(name, chain, x, labels, eps, norm="1")
        assert torch.allclose(got, exact, atol=1e-12, rtol=0), name


def test_l1_attacks_stay_in_the_ball_and_apgd_is_strongest(small_model: object) -> None:
    """Every L1 record passes its checks (within eps in L1, [0, 1], recomputed), labels
    carry -l1, l1-APGD breaks at least what PGD and FGSM break at every eps, and no image
    an L1 certificate proves is broken by it."""
    from lilbench.attacks.checks import unpack_mask
    from lilbench.certify.runner import unpack_bits
    from lilbench.certify.spec import CertifySpec
    from lilbench.results.attack_runs import ensure_attack
    from lilbench.results.certificates import ensure_certificate

    ckpt = small_model.checkpoint  # type: ignore[attr-defined]
    runs = ckpt.path.parent.parent
    eps = [1.0, 3.0, 8.0]
    found = {}
    for entry in (
        {"name": "fgsm", "norm": 1},
        {"name": "pgd", "norm": 1, "steps": 10},
        {"name": "apgd", "norm": 1, "loss": "ce", "max_iter": 30},
    ):
        spec = parse_attack({**entry, "eps": eps})
        rec = ensure_attack(ckpt, spec, runs_dir=runs, limit=100, seed=0).record
        assert rec.passed and spec.label.endswith("-l1") and rec.params["norm"] == "1"
        for p in rec.points:
            assert p.model_extra is not None and p.model_extra["max_lp"] <= p.eps * (1 + 1e-6)
        found[spec.name] = {float(p.eps): p.correct for p in rec.points}
    for e in eps:
        assert found["apgd"][e] <= min(found["pgd"][e], found["fgsm"][e]), (e, found)
    assert found["apgd"][8.0] < found["apgd"][1.0]  # the attack does something
    cert = ensure_certificate(
        ckpt, CertifySpec(eps=(0.1, 0.5, 1.0), norm="1"), runs_dir=runs, limit=100
    ).record
    assert cert.passed and cert.params is not None and cert.params["norm"] == "1"
    apgd = ensure_attack(
        ckpt,
        parse_attack({"name": "apgd", "norm": 1, "eps": [0.1, 0.5, 1.0], "max_iter": 30}),
        runs_dir=runs,
        limit=100,
        seed=0,
    ).record
    total = 0
    for p in cert.points:
        proven = unpack_bits(p.bits, p.n)
        point = next(a for a in apgd.points if a.eps == p.eps)
        assert point.correct_bits is not None
        assert not (proven & ~unpack_mask(point.correct_bits, point.n)).any(), p.method
        total += int(proven.sum())
    assert total > 0


def test_l1_apgd_is_deterministic_and_in_the_box() -> None:
    from lilbench.attacks.kernels.sparse import apgd_l1

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(20, 16), nn.Tanh(), nn.Linear(16, 3))
    x = torch.rand(40, 20)
    y = model(x).argmax(1)
    t = threat("1")
    runs = [
        apgd_l1(model, x, y, t, eps=1.5, iterations=20, generator=torch.Generator().manual_seed(3))
        for _ in range(2)
    ]
    assert torch.equal(runs[0][0], runs[1][0]) and torch.equal(runs[0][1], runs[1][1])
    adv, robust = runs[0]
    assert (t.distance(adv, x) <= 1.5 * (1 + 1e-6)).all()
    assert adv.min() >= 0 and adv.max() <= 1
    with torch.no_grad():
        assert torch.equal(model(adv).argmax(1) == y, robust)  # broken rows are broken
    assert not robust.all()


@pytest.mark.parametrize(
    ("entry", "words"),
    [
        (
            {"name": "autoattack", "eps": [2.0], "norm": 1, "engine": "art"},
            "ART's members are L-inf and L2 only",
        ),
        ({"name": "autoattack", "eps": [0.1], "version": "apgd"}, "version apgd is the L1"),
        ({"name": "square", "eps": [2.0], "norm": 1, "engine": "art"}, "L-inf and L2 only"),
        ({"name": "fgsm", "eps": [2e6], "norm": 1}, "L1 radius <= 1e+06"),
        ({"name": "fgsm", "eps": [1.0], "norm": 1, "objective": "paper"}, "authors' attacks"),
    ],
)
def test_what_l1_cannot_do_is_refused_in_one_line(entry: dict[str, object], words: str) -> None:
    with pytest.raises(ConfigError) as exc:
        parse_attack(entry)
    assert words in str(exc.value) and "\n" not in str(exc.value)


def test_uniform_l1_noise_lies_in_its_ball() -> None:
    from lilbench.data.noise import NOISE_KINDS, NoiseSpec, noise_size, noisy

    assert "uniform-l1" in NOISE_KINDS
    assert "uniform-l1" not in dict(NoiseSpec().levels)  # `noise: true` keeps its kinds
    x = np.random.default_rng(0).random((20, 50)).astype(np.float32)
    out = noisy(x, "uniform-l1", 3.0, seed=0, draw=0)
    size = noise_size("uniform-l1", out.astype(np.float64) - x)
    assert size is not None and (size <= 3.0 + 1e-5).all() and (size > 0).all()
    assert np.array_equal(out, noisy(x, "uniform-l1", 3.0, seed=0, draw=0))


def _minimal_l1(w: np.ndarray, b: float, x: np.ndarray) -> float | None:
    """The smallest L1 norm of d with w . (x + d) = b and x + d in [0, 1], by scipy's linear
    programme over d = u - v (u, v >= 0): independent of lilbench's knapsack; None where the
    plane is out of the box's reach."""
    from scipy.optimize import linprog

    n = len(x)
    eye = np.eye(n)
    res = linprog(
        np.ones(2 * n),
        A_ub=np.block([[eye, -eye], [-eye, eye]]),
        b_ub=np.concatenate([1 - x, x]),
        A_eq=np.concatenate([w, -w])[None],
        b_eq=[b - w @ x],
        bounds=(0, None),
    )
    return float(res.fun) if res.status == 0 else None


def test_fab_l1_projection_is_the_linear_programmes_minimum() -> None:
    """FAB's L1 projection onto w . z = b inside [0, 1] (torch and numba) has the LP's
    minimal L1 norm and reaches the plane; out of reach, every coordinate goes to its wall."""
    from lilbench.attacks.kernels import fab, fab_kernel

    g = torch.Generator().manual_seed(2)
    p = torch.rand(16, 25, generator=g, dtype=torch.float64)
    p[:4] = p[:4].round()  # on the walls: rooms of 0 and 1
    w = torch.randn(16, 25, generator=g, dtype=torch.float64)
    w[:, :3] = 0.0  # coordinates that move nothing
    b = (w * p).sum(1) + 0.8 * torch.randn(16, generator=g, dtype=torch.float64)
    b[-1] = 1e3  # out of reach
    d, _ = fab.project_to_hyperplane_l1(p, w, b)
    z = p + d
    assert ((z >= -1e-12) & (z <= 1 + 1e-12)).all()
    checked = 0
    for i in range(16):
        truth = _minimal_l1(w[i].numpy(), float(b[i]), p[i].numpy())
        if truth is None:
            assert float((w[i] * z[i]).sum()) < float(b[i])
            assert torch.allclose(z[i][w[i] > 0], torch.ones(1, dtype=torch.float64))
            continue
        checked += 1
        assert abs(float((w[i] * z[i]).sum() - b[i])) <= 1e-9
        assert float(d[i].abs().sum()) == pytest.approx(truth, rel=1e-7, abs=1e-12)
        # the numba knapsack: the same step sizes
        c = float(b[i] - (w[i] * p[i]).sum())
        s = 1.0 if c > 0 else -1.0
        room = np.where(w[i].numpy() * s > 0, 1 - p[i].numpy(), p[i].numpy())
        m = np.empty(25)
        norm = fab_kernel._l1_steps(np.abs(w[i].numpy()), room, c, m, np.empty(25, np.int64))
        assert norm == pytest.approx(truth, rel=1e-9, abs=1e-8)
    assert checked >= 10


def test_compiled_and_torch_l1_fab_steps_agree() -> None:
    """The numba L1 move and the torch L1 move are the same maths (float64 vs float32)."""
    from lilbench.attacks.kernels import fab

    g = torch.Generator().manual_seed(1)
    x0 = torch.rand(64, 50, generator=g).round_()
    x1 = (x0 + 0.1 * torch.randn(64, 50, generator=g)).clamp(0, 1)
    w = torch.randn(64, 50, generator=g)
    gap = 3 * torch.randn(64, generator=g)
    a, _ = fab.torch_step(x1, x0, w, gap, None, eta=1.05, alpha_max=0.1, norm="1")
    b, _ = fab.compiled_step(x1, x0, w, gap, None, eta=1.05, alpha_max=0.1, norm="1")
    assert torch.allclose(a, b, atol=1e-5)
    assert (a != x1).any()


@pytest.mark.parametrize("compiled", [True, False])
def test_l1_fab_t_finds_the_minimal_l1_perturbation_of_a_linear_model(compiled: bool) -> None:
    """Two live classes, so only the target's half space is adversarial; its smallest L1
    distance inside the box is an LP. FAB-T L1's point is adversarial, never closer than
    that, and within 1% of it."""
    from lilbench.attacks.kernels import fab

    torch.manual_seed(0)
    dim, classes = 30, 5
    model = nn.Linear(dim, classes)
    with torch.no_grad():
        model.weight.mul_(3)
        model.bias[2:] = -1e3
    x = torch.rand(40, dim)
    x[:10] = x[:10].round()
    with torch.no_grad():
        y = model(x)[:, :2].argmax(1)
    target = 1 - y
    adv, dist = fab.fab_targeted(model, x, y, target, max_iter=100, norm="1", compiled=compiled)
    w = model.weight.detach().double().numpy()
    b = model.bias.detach().double().numpy()
    truth = []
    for i in range(len(x)):
        t = _minimal_l1(w[y[i]] - w[target[i]], b[target[i]] - b[y[i]], x[i].double().numpy())
        assert t is not None
        truth.append(t)
    found = dist.numpy()
    with torch.no_grad():
        assert (model(adv).argmax(1) != y).all()
    assert ((adv >= 0) & (adv <= 1)).all()
    assert np.allclose((adv - x).abs().sum(1).numpy(), found, rtol=1e-5)
    assert (found >= np.array(truth) * (1 - 1e-4)).all()  # never below the true minimum
    assert (found <= np.array(truth) * 1.01).all(), np.max(found / np.array(truth))


def test_l1_square_stays_in_its_ball_and_breaks_images() -> None:
    """lilbench's L1 Square: every point within eps in L1 and inside [0, 1], seeded, and
    it breaks images of a small network (a query that lowers no margin is never kept)."""
    from lilbench.attacks.kernels.square import square

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 32), nn.Tanh(), nn.Linear(32, 4))
    x = torch.rand(60, 64)
    with torch.no_grad():
        y = model(x).argmax(1)
    runs = [
        square(
            model,
            x,
            y,
            eps=1.5,
            shape=(1, 8, 8),
            queries=300,
            generator=torch.Generator().manual_seed(3),
            norm="1",
        )
        for _ in range(2)
    ]
    assert torch.equal(runs[0], runs[1])
    adv = runs[0]
    assert (threat("1").distance(adv, x) <= 1.5 * (1 + 1e-6)).all()
    assert adv.min() >= 0 and adv.max() <= 1
    with torch.no_grad():
        assert (model(adv).argmax(1) != y).sum() > 0


def test_standard_autoattack_runs_in_l1(small_model: object) -> None:
    """The standard version in L1: APGD-CE (5 restarts), APGD-T (5 targets), FAB-T and
    Square, in that order; every check passes (points within eps in L1), and it leaves no
    image robust that its APGD members alone (version apgd, one start) break."""
    from lilbench.results.attack_runs import ensure_attack

    ckpt = small_model.checkpoint  # type: ignore[attr-defined]
    runs = ckpt.path.parent.parent
    spec = parse_attack({"name": "autoattack", "norm": 1, "eps": [1.0, 3.0]})
    assert spec.members[0] == "apgd-ce (5 restarts)"  # type: ignore[attr-defined]
    rec = ensure_attack(ckpt, spec, runs_dir=runs, limit=60, seed=0).record
    assert rec.passed, [c for c in rec.checks if not c.passed]
    subset = parse_attack({"name": "autoattack", "norm": 1, "eps": [1.0, 3.0], "version": "apgd"})
    sub = ensure_attack(ckpt, subset, runs_dir=runs, limit=60, seed=0).record
    for p, q in zip(rec.points, sub.points, strict=True):
        assert p.correct <= q.correct, (p.eps, p.correct, q.correct)
    # the members ran in the official order, each on the images still robust (read from the
    # record, which keeps them as run, rather than attacking a second time)
    for point in rec.points:
        members = point.members or {}
        assert list(members) == ["apgd-ce", "apgd-t", "fab-t", "square"], point.eps
        assert sum(m["broken"] for m in members.values()) <= point.n
