"""lilbench's own attack members: APGD equals ART's bit for bit, FAB-T lands on the known
minimal perturbation of a linear model and never below it, Square and the standard
AutoAttack are at least as strong as ART's on the same model and seed; the engines' keys."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import oracles
import pytest
import torch
from art.attacks.evasion import AutoProjectedGradientDescent
from scipy.optimize import linprog
from torch import nn
from typer.testing import CliRunner

import lilbench
from lilbench.attacks import ATTACKS, AutoAttackSpec, Square
from lilbench.attacks import art_backend as art
from lilbench.attacks.base import AttackContext, EpsGridAttack, Point, option
from lilbench.attacks.kernels import apgd as fast_apgd
from lilbench.attacks.kernels import fab
from lilbench.attacks.kernels.autoattack import MemberLog, standard_autoattack
from lilbench.attacks.runner import run_attack
from lilbench.data import Dataset
from lilbench.errors import ConfigError
from lilbench.results.attack_runs import ensure_attack
from lilbench.training.pipeline import Trained


def _model(trained: Trained) -> nn.Module:
    return lilbench.load_model(trained.checkpoint.path).eval()


@pytest.mark.parametrize("compiled", [True, False])
@pytest.mark.parametrize("loss, eps, restarts", [("ce", 0.03, 1), ("dlr", 0.1, 1), ("ce", 0.1, 2)])
def test_apgd_equals_arts_bit_for_bit(
    loss: str, eps: float, restarts: int, compiled: bool, small_model: Trained, mnist: Dataset
) -> None:
    """Same seed, same model: the same float32 arrays as ART's AutoProjectedGradientDescent
    (batch 128, so several ART batches and their mean scales; random starts; checkpoints)."""
    model = _model(small_model)
    x, y = mnist.x_test[:300].numpy(), mnist.y_test[:300].numpy().astype(np.int64)
    clf = art.make_classifier(model, input_dim=784, num_classes=10, device=torch.device("cpu"))
    ref = oracles.art_apgd(
        clf, x, y, eps=eps, loss=loss, max_iter=30, restarts=restarts, batch_size=128, seed=3
    )
    np.random.seed(3)
    ours = fast_apgd.apgd(
        model,
        torch.from_numpy(x),
        torch.from_numpy(y),
        eps=eps,
        loss=loss,
        max_iter=30,
        restarts=restarts,
        batch_size=128,
        compiled=compiled,
    ).numpy()
    assert np.array_equal(ref, ours)
    assert (ref != x).any()  # it moved: equality of two no-ops would prove nothing


def test_targeted_apgd_member_equals_arts(small_model: Trained, mnist: Dataset) -> None:
    """AutoAttack's APGD-T member (DLR, targeted) from the same start as ART's."""
    model = _model(small_model)
    x, y = mnist.x_test[:200].numpy(), mnist.y_test[:200].numpy().astype(np.int64)
    targets = (y + 1) % 10
    clf = art.make_classifier(model, input_dim=784, num_classes=10, device=torch.device("cpu"))
    np.random.seed(5)
    ref = AutoProjectedGradientDescent(
        clf,
        norm=np.inf,
        eps=0.1,
        eps_step=0.2,
        max_iter=40,
        nb_random_init=1,
        batch_size=1000,
        loss_type="difference_logits_ratio",
        targeted=True,
        verbose=False,
    ).generate(x=x, y=np.eye(10, dtype=np.float32)[targets])
    np.random.seed(5)
    ours = fast_apgd.apgd(
        model,
        torch.from_numpy(x),
        torch.from_numpy(targets),
        eps=0.1,
        loss="dlr",
        max_iter=40,
        targeted=True,
    ).numpy()
    assert np.array_equal(ref, ours)
    hit = model(torch.from_numpy(ours)).argmax(1).numpy() == targets
    assert hit.sum() > 0


def _minimal_linf(w: np.ndarray, b: float, x: np.ndarray) -> float:
    """The smallest L-inf norm of d with w . (x + d) + b <= 0 and x + d in [0, 1], by LP
    (variables d and t; minimise t subject to |d_i| <= t): independent of lilbench's code."""
    n = len(x)
    c = np.r_[np.zeros(n), 1.0]
    a_ub = np.vstack(
        [
            np.r_[w, 0.0],  # w . d <= -(w . x + b)
            *(np.r_[np.eye(n)[i], -1.0] for i in range(n)),  # d_i - t <= 0
            *(np.r_[-np.eye(n)[i], -1.0] for i in range(n)),  # -d_i - t <= 0
        ]
    )
    b_ub = np.r_[-(w @ x + b), np.zeros(2 * n)]
    bounds = [(-xi, 1 - xi) for xi in x] + [(0, None)]
    res = linprog(c, A_ub=a_ub, b_ub=b_ub, bounds=bounds, method="highs")
    assert res.status == 0
    return float(res.x[-1])


@pytest.mark.parametrize("compiled", [True, False])
def test_fab_t_finds_the_minimal_perturbation_of_a_linear_model(compiled: bool) -> None:
    """Two live classes (the label and the target; the others far below), so the only way to
    be misclassified is the target's half space, whose smallest L-inf distance inside the box
    is an LP. FAB-T's point is adversarial, never closer than that, and within 1% of it.
    Inputs near the box walls make the box constraints bind."""
    torch.manual_seed(0)
    dim, classes = 30, 5
    model = nn.Linear(dim, classes)
    with torch.no_grad():
        model.weight.mul_(3)
        model.bias[2:] = -1e3
    x = torch.rand(40, dim)
    x[:10] = x[:10].round()  # on the walls: many coordinates can move one way only
    with torch.no_grad():
        logits = model(x)
    y = logits[:, :2].argmax(1)
    target = 1 - y
    adv, dist = fab.fab_targeted(model, x, y, target, max_iter=100, compiled=compiled)
    w = model.weight.detach().double().numpy()
    b = model.bias.detach().double().numpy()
    truth = np.array(
        [
            _minimal_linf(w[y[i]] - w[target[i]], b[y[i]] - b[target[i]], x[i].double().numpy())
            for i in range(len(x))
        ]
    )
    found = dist.numpy()
    assert np.isfinite(found).all()
    assert (model(adv).argmax(1) != y).all()
    assert np.allclose((adv - x).abs().amax(1).numpy(), found)
    assert (found >= truth * (1 - 1e-4)).all()  # never below the true minimum
    assert (found <= truth * 1.01).all(), np.max(found / truth)


def test_compiled_and_torch_fab_steps_agree() -> None:
    """The numba step and the torch step are the same maths (float64 vs float32 sums)."""
    g = torch.Generator().manual_seed(1)
    x0 = torch.rand(64, 50, generator=g).round_()  # half the rooms are 0
    x1 = (x0 + 0.1 * torch.randn(64, 50, generator=g)).clamp(0, 1)
    w = torch.randn(64, 50, generator=g)
    gap = 3 * torch.randn(64, generator=g)
    a, ea = fab.torch_step(x1, x0, w, gap, None, eta=1.05, alpha_max=0.1)
    b, eb = fab.compiled_step(x1, x0, w, gap, None, eta=1.05, alpha_max=0.1)
    assert torch.allclose(a, b, atol=1e-5)
    assert torch.allclose(ea.double(), eb, rtol=1e-3, atol=1e-6)  # float32 c cancels: 1e-7 abs


def test_projection_reaches_the_hyperplane_at_the_lp_norm() -> None:
    g = torch.Generator().manual_seed(2)
    p = torch.rand(12, 25, generator=g)
    w = torch.randn(12, 25, generator=g)
    b = (w * p).sum(1) + 0.5 * torch.randn(12, generator=g)
    d, e = fab.project_to_hyperplane(p.double(), w.double(), b.double())
    z = p.double() + d
    assert ((z >= -1e-12) & (z <= 1 + 1e-12)).all()
    reached = ((w.double() * z).sum(1) - b.double()).abs() <= 1e-9
    assert reached.sum() >= 6  # most of these hyperplanes lie within reach
    assert torch.allclose(e[reached], d[reached].abs().amax(1))
    for i in range(12):
        wi, pi = w[i].double().numpy(), p[i].double().numpy()
        sign = np.sign(float(b[i]) - wi @ pi)  # cross to the far side of the hyperplane
        lp = _minimal_linf(-sign * wi, sign * float(b[i]), pi)
        if reached[i]:
            assert float(d[i].abs().max()) == pytest.approx(lp, rel=1e-6)


def test_square_is_no_weaker_than_arts(small_model: Trained, mnist: Dataset) -> None:
    """A window per image (lilbench) against one per batch (ART), same model, seed and query
    budget: lilbench's robust accuracy within 2 images of 500 above ART's, and no success
    that is not one (the runner's checks)."""
    model = _model(small_model)
    x, y = mnist.x_test[:500], mnist.y_test[:500]
    robust = {}
    for engine in ("lilbench", "art"):
        out = run_attack(
            model, Square(eps=(0.1,), max_iter=200, engine=engine), x, y, num_classes=10, seed=0
        )
        assert out.passed, [c for c in out.checks if not c.passed]
        robust[engine] = out.points[0].correct
    assert robust["lilbench"] <= robust["art"] + 2, robust


def test_standard_autoattack_runs_its_four_members_in_order(
    small_model: Trained, mnist: Dataset
) -> None:
    """At eps 0.15 APGD-CE breaks most of the quick model's images; the rest go through
    APGD-T, FAB-T and Square. Every check passes, each broken image is counted by the member
    that broke it, and the engine called twice gives the same examples (seeded)."""
    model = _model(small_model)
    x, y = mnist.x_test[:100], mnist.y_test[:100]
    spec = AutoAttackSpec(eps=(0.15,)).validate()
    assert spec.members[2] == "fab-t (9 targets)"
    ours = run_attack(model, spec, x, y, num_classes=10, seed=0)
    assert ours.passed, [c for c in ours.checks if not c.passed]
    log = MemberLog()
    adv = standard_autoattack(model, x, y, eps=0.15, shape=(1, 28, 28), seed=0, log=log)
    assert list(log.seconds) == ["apgd-ce", "apgd-t", "fab-t", "square"]
    broken = int((model(x).argmax(1) == y).sum() - (model(adv).argmax(1) == y).sum())
    assert broken > 0 and sum(log.broken.values()) == broken
    assert int((model(adv).argmax(1) == y).sum()) == ours.points[0].correct  # deterministic


@pytest.mark.slow
def test_standard_autoattack_is_no_weaker_than_arts_members(
    small_model: Trained, mnist: Dataset
) -> None:
    """Against ART's members (no FAB-T) on the same model and seed; slow: ART's Square makes
    three passes over every image per query (benchmarks/autoattack_bench.py does it at full
    size)."""
    model = _model(small_model)
    x, y = mnist.x_test[:200], mnist.y_test[:200]
    ours = run_attack(model, AutoAttackSpec(eps=(0.1,)), x, y, num_classes=10, seed=0)
    arts = run_attack(model, AutoAttackSpec(eps=(0.1,), engine="art"), x, y, num_classes=10, seed=0)
    assert ours.passed and arts.passed
    assert ours.points[0].correct <= arts.points[0].correct + 1


def test_engine_keys_keep_the_earlier_records() -> None:
    """ART-engine specs have the keys lilbench's earlier records were made with; the new
    engine adds `engine: lilbench`, and says which earlier spec it supersedes."""
    standard = AutoAttackSpec(eps=(0.1,)).validate()
    assert standard.params()["engine"] == "lilbench"
    before = AutoAttackSpec(eps=(0.1,), engine="art").validate()
    assert before.params() == {
        "name": "autoattack",
        "batch_size": 1000,
        "eps": [0.1],
        "version": "standard",
    }
    assert standard.superseded() == before
    ensemble = AutoAttackSpec(eps=(0.1,), version="art").validate()
    assert ensemble.params() == {"name": "autoattack", "batch_size": 1000, "eps": [0.1]}
    assert ensemble.superseded() is None and "fab-t" not in " ".join(ensemble.members)
    with pytest.raises(ConfigError, match="ART's own ensemble"):
        AutoAttackSpec(eps=(0.1,), version="art", engine="lilbench").validate()
    assert "engine" not in Square(eps=(0.1,), engine="art").validate().params()
    assert Square(eps=(0.1,)).validate().params()["engine"] == "lilbench"
    with pytest.raises(ConfigError, match="unknown square engine"):
        Square(eps=(0.1,), engine="foolbox").validate()


def test_a_record_of_the_earlier_engine_is_kept_and_named(
    small_model: Trained, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    old = ensure_attack(
        small_model.checkpoint,
        Square(eps=(0.1,), max_iter=5, engine="art"),
        runs_dir=tmp_path,
        limit=50,
    )
    with caplog.at_level(logging.INFO, logger="lilbench"):
        new = ensure_attack(
            small_model.checkpoint, Square(eps=(0.1,), max_iter=5), runs_dir=tmp_path, limit=50
        )
    assert new.path != old.path and old.path.exists() and not new.reused
    assert any("earlier lilbench" in r.getMessage() for r in caplog.records)


def test_a_new_attack_field_is_an_option_without_touching_the_cli() -> None:
    """An attack class registered with a new field gets `--that-field` in its command's help
    and receives its value; the CLI module is imported afresh and knows nothing of it."""
    import importlib

    import lilbench.cli.attack as attack_cli

    @dataclass(frozen=True, kw_only=True)
    class Throwaway(EpsGridAttack):
        """A throwaway attack that returns its inputs."""

        name: ClassVar[str] = "throwaway-test"
        wobble_factor: float = option(0.25, "How much it wobbles.")

        def generate(self, ctx: AttackContext, point: Point, rows: slice) -> torch.Tensor:
            return torch.from_numpy(ctx.x[rows])

    ATTACKS.register("throwaway-test")(Throwaway)
    try:
        fresh = importlib.reload(attack_cli)
        result = CliRunner().invoke(fresh.app, ["throwaway-test", "--help"], env={"COLUMNS": "200"})
        assert result.exit_code == 0, result.output
        assert "--wobble-factor" in result.output and "How much it wobbles" in result.output
        assert "(default 0.25)" in result.output
        bad = CliRunner().invoke(fresh.app, ["throwaway-test", "--wobble-factor", "x"])
        assert bad.exit_code == 2
    finally:
        ATTACKS._items.pop("throwaway-test", None)
        importlib.reload(attack_cli)


def test_squares_first_layer_update_equals_the_forward_pass(small_model: Trained) -> None:
    """The logits from the first layer's update (window change only) are the forward pass's,
    to float32 rounding, for small windows and for large ones (recomputed in full)."""
    from lilbench.attacks.kernels.square import Logits

    model = _model(small_model)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(40, 784, generator=g)
    net = Logits(model)
    assert net.linear is not None  # lilbench's MLP starts with a linear layer
    net.full(x)
    for k in (4, 100, 400):
        idx = torch.stack([torch.randperm(784, generator=g)[:k] for _ in range(40)])
        new = torch.rand(40, k, generator=g)
        moved = x.clone().scatter_(1, idx, new)
        got = net.changed(moved, idx, new - x.gather(1, idx))
        assert torch.allclose(got, model(moved), atol=1e-4), k
        keep = torch.arange(40) % 2 == 0
        net.accept(keep)
        x = torch.where(keep[:, None], moved, x)
        assert torch.allclose(net.rest(net.z), model(x), atol=1e-4)  # type: ignore[misc]


def test_square_keeps_its_first_layer_update_under_the_pass_counter(
    small_model: Trained, mnist: Dataset
) -> None:
    """The runner wraps every model in a pass counter: Square must still see the model's
    first linear layer through it (it did not, and ran a full pass per query), count the rows
    it runs, and return the same points as on the bare model."""
    from lilbench.attacks.kernels.common import PassCounter
    from lilbench.attacks.kernels.square import Logits, square

    model = _model(small_model)
    counter = PassCounter(model)
    assert Logits(counter).linear is not None
    x, y = mnist.x_test[:60].float(), mnist.y_test[:60]
    points = [
        square(
            m,
            x,
            y,
            eps=0.1,
            shape=(1, 28, 28),
            queries=150,
            generator=torch.Generator().manual_seed(0),
        )
        for m in (model, counter)
    ]
    assert torch.equal(points[0], points[1])
    robust = int((model(x).argmax(1) == y).sum())
    # every query runs each image still robust at least once (150 queries, some robust)
    assert counter.forward_rows >= 150 * int((model(points[1]).argmax(1) == y).sum()) > 0
    assert counter.forward_rows >= robust
