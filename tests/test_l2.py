"""The L2 threat model (issue 33): `norm` on the attacks, FGSM and PGD in L2 through ART's
arithmetic, APGD's engine bit for bit ART's in L2, FAB-T L2 at the exact minimal L2
perturbation of a linear model, Square L2 no weaker than ART's, the standard AutoAttack L2
within its ball, checks in the attack's own norm, keys of L-inf records unchanged, and every
place that is not L2-ready refusing it in one line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from helpers import cli

from lilbench.attacks import checks as C
from lilbench.attacks.base import spec_from_params
from lilbench.attacks.parse import parse_attack
from lilbench.errors import ConfigError
from lilbench.suites import load_suite


def test_norm_enters_params_and_label_only_when_it_is_l2() -> None:
    linf = parse_attack({"name": "pgd", "eps": [0.1, 0.2]})
    l2 = parse_attack({"name": "pgd", "eps": [0.5, 2.0], "norm": 2})  # YAML's int 2
    assert "norm" not in linf.params() and linf.label == "pgd-eps"
    assert l2.params()["norm"] == "2" and l2.label == "pgd-eps-l2"
    assert spec_from_params(l2.params()).norm == "2"
    assert spec_from_params(linf.params()).norm == "inf"  # records written before the norm
    assert parse_attack({"name": "fgsm", "eps": [1.5], "norm": "2"}).label == "fgsm-l2"


@pytest.mark.parametrize(
    ("entry", "words"),
    [
        ({"name": "autoattack", "eps": [0.5], "norm": "2", "version": "art"}, "version art"),
        ({"name": "fgsm", "eps": [0.5], "norm": "2", "objective": "paper"}, "authors' attacks"),
        ({"name": "pgd", "eps": [0.5], "norm": "2", "paper_faithful": True}, "authors' attacks"),
        ({"name": "fgsm", "eps": [0.5], "norm": "3"}, "unknown norm"),
        ({"name": "fgsm", "eps": [1.5]}, "[0, 1]"),  # an L-inf radius is still a pixel range
        ({"name": "fgsm", "eps": [-1.0], "norm": "2"}, "L2 radius >= 0"),
    ],
)
def test_what_is_not_l2_ready_is_refused_in_one_line(entry: dict[str, object], words: str) -> None:
    with pytest.raises(ConfigError, match=None) as exc:
        parse_attack(entry)
    assert words in str(exc.value) and "\n" not in str(exc.value)


def test_an_attack_without_l2_names_those_that_have_it() -> None:
    """Every registered attack has L2 now; a new one that declares only L-inf is refused."""
    from dataclasses import dataclass
    from typing import ClassVar

    from lilbench.attacks.base import EpsGridAttack

    @dataclass(frozen=True, kw_only=True)
    class LinfOnly(EpsGridAttack):
        name: ClassVar[str] = "linf-only"

    with pytest.raises(ConfigError) as exc:
        LinfOnly(eps=(0.5,), norm="2").validate()
    msg = str(exc.value)
    assert "L-inf only so far" in msg and "autoattack" in msg and "square" in msg


L2_SUITE = """\
name: l2tiny
dataset: mnist
train: {epochs: 1, width: 8, limit: 300}
betas: [0, 1]
test_limit: 100
attacks:
  - {name: fgsm, eps: [0.1]}
  - {name: pgd, eps: [0.1, 0.2], steps: 5}
  - {name: fgsm, eps: [0.5, 1.0], norm: 2}
  - {name: pgd, eps: [0.5, 1.0], steps: 5, norm: 2}
"""


def test_a_suite_reports_l2_entries_apart_and_keeps_its_verdict_l_inf(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """L2 entries get their own tables and comparisons (labelled -l2, Holm over all) and their
    own sentence in the answer; the verdict's first attack and the curves stay L-inf (an L2
    eps is another ball)."""
    suite = tmp_path / "l2tiny.yaml"
    suite.write_text(L2_SUITE)
    runs, out = tmp_path / "runs", tmp_path / "out"
    code, _, err = cli(["run", str(suite), "--runs-dir", str(runs), "--workers", "1"], capsys)
    assert code == 0, err
    code, _, err = cli(
        ["report", str(suite), "--runs-dir", str(runs), "--out-dir", str(out)], capsys
    )
    assert code == 0, err
    text = (out / "l2tiny.md").read_text()
    assert "## Robust accuracy under FGSM-L2 (norm=2)" in text
    assert "## Robust accuracy under PGD-EPS-L2 (norm=2" in text
    assert "## Robust accuracy under FGSM (norm=L-inf)" in text  # every table names its norm
    answer = next(line for line in text.splitlines() if line.startswith("**Answer.**"))
    # the answer is L-inf's first, then the same question in L2 from the strongest L2 attack
    assert answer.startswith("**Answer.** Under PGD-EPS at eps")
    assert "In L2, the paper's own metric, under PGD-EPS-L2 at L2 eps = 1," in answer
    # L2 rows are compared at an L2 radius of their own (1), named as such
    assert "| fgsm-l2 at L2 eps = 1 |" in text and "Holm over 4" in text
    assert "| fgsm at eps = 0.1 |" in text
    # the claims row in the paper's own metric reads the L2 families only
    from lilbench.reports.claims import build_claims

    claims = tmp_path / "claims.yaml"
    claims.write_text(
        "title: t\nclaims:\n  - id: l2\n    claim: robust in L2\n    quote: q\n"
        "    where: w\n    suites: [l2tiny.yaml]\n    evidence: robustness\n"
        '    params: {norm: "2"}\n'
    )
    _, rows = build_claims(claims, runs_dir=runs, out_dir=tmp_path / "claims")
    assert rows[0].authors.startswith("not applicable: the authors' attacks are L-inf")
    assert rows[0].strong.startswith("pgd-eps-l2 at L2 eps = 1:")
    assert rows[0].verdict in ("holds", "does not hold")


def test_a_suite_certifies_per_norm_one_block_each(tmp_path: Path) -> None:
    """`certify` is one mapping or a list with one block per norm; two in one norm refused."""
    path = tmp_path / "c.yaml"
    path.write_text("name: c\nbetas: [0]\ncertify: {eps: [0.5], norm: 2}\n")
    suite = load_suite(path)
    l2 = suite.certify_in("2")
    assert suite.certify_in("inf") is None and l2 is not None
    assert l2.eps == (0.5,)
    path.write_text("name: c\nbetas: [0]\ncertify:\n  - {eps: [0.01]}\n  - {eps: [0.5], norm: 2}\n")
    suite = load_suite(path)
    assert [c.norm for c in suite.certifies] == ["inf", "2"]
    path.write_text(
        "name: c\nbetas: [0]\ncertify:\n  - {eps: [0.5], norm: 2}\n  - {eps: [1], norm: 2}\n"
    )
    with pytest.raises(ConfigError, match=r"certify\[1\]: a second certify block in norm 2"):
        load_suite(path)


def test_the_bounds_check_measures_the_attacks_own_norm() -> None:
    x = torch.zeros(2, 4)
    # L-inf 0.5 but L2 1.0: inside an L-inf ball of 0.5, outside an L2 ball of 0.9
    adv = torch.full((2, 4), 0.5)
    inside_linf = C.measure_point(x, adv, eps=0.5, step=0.5, correct=0, recomputed_correct=0)
    assert C.check_bounds([inside_linf]).passed
    l2 = C.measure_point(x, adv, eps=0.9, step=0.9, correct=0, recomputed_correct=0, norm="2")
    assert l2.max_l2 == pytest.approx(1.0)
    assert not C.check_bounds([l2]).passed
    ok = C.measure_point(x, adv, eps=1.0, step=1.0, correct=0, recomputed_correct=0, norm="2")
    check = C.check_bounds([ok])
    assert check.passed and "in L2" in check.detail
    assert "max_l2" not in inside_linf.to_dict() and ok.to_dict()["max_l2"] == pytest.approx(1.0)


def test_l2_fgsm_and_pgd_on_a_real_model_stay_in_the_l2_ball(small_model: object) -> None:
    from lilbench.results.attack_runs import ensure_attack

    ckpt = small_model.checkpoint  # type: ignore[attr-defined]
    runs = ckpt.path.parent.parent
    for entry in (
        {"name": "fgsm", "eps": [0.5, 2.0, 28.0], "norm": "2"},
        {"name": "pgd", "eps": [0.5, 2.0], "norm": "2", "steps": 5, "restarts": 1},
        {"name": "apgd", "eps": [0.5, 2.0], "norm": "2", "max_iter": 20},
        {"name": "apgd", "loss": "dlr", "eps": [0.5, 2.0], "norm": "2", "max_iter": 20},
        {"name": "square", "eps": [0.5, 2.0], "norm": "2", "engine": "art", "max_iter": 100},
        {"name": "square", "eps": [0.5, 2.0], "norm": "2", "max_iter": 200},
        {"name": "autoattack", "eps": [1.0], "norm": "2"},
        {"name": "apgd-search", "eps": [0.25, 1.0, 4.0], "norm": "2", "levels": 2, "max_iter": 10},
    ):
        spec = parse_attack(entry)
        run = ensure_attack(ckpt, spec, runs_dir=runs, limit=100, seed=0)
        rec = run.record
        assert rec.passed, [c for c in rec.checks if not c.passed]
        assert rec.label.endswith("-l2")
        for p in rec.points:
            extra = p.model_extra or {}
            assert extra["max_l2"] <= p.eps * (1 + 1e-6) + 1e-6
        within = next(c for c in rec.checks if c.name.startswith("within eps"))
        assert "in L2" in within.detail
        accs = [p.accuracy for p in rec.points]
        assert accs == sorted(accs, reverse=True) and accs[0] <= rec.clean.accuracy
    # an L2 radius that covers the whole cube (sqrt(784) = 28 on MNIST) leaves FGSM near 0
    fgsm = ensure_attack(
        ckpt,
        parse_attack({"name": "fgsm", "eps": [28.0], "norm": "2"}),
        runs_dir=runs,
        limit=100,
        seed=0,
    ).record
    assert fgsm.points[-1].accuracy <= 0.2


def _art_inputs(small_model: object, mnist: object, n: int) -> tuple[Any, np.ndarray, np.ndarray]:
    """ART's classifier of the small model, and the first n MNIST test images and labels."""
    from lilbench.attacks import art_backend as art
    from lilbench.training.checkpoint import load_model

    ckpt = small_model.checkpoint  # type: ignore[attr-defined]
    model = load_model(ckpt.path, input_dim=784)
    x = mnist.x_test[:n].numpy()  # type: ignore[attr-defined]
    y = mnist.y_test[:n].numpy()  # type: ignore[attr-defined]
    cpu = torch.device("cpu")
    return art.make_classifier(model, input_dim=784, num_classes=10, device=cpu), x, y


def test_l2_apgd_is_arts_apgd_with_norm_2(small_model: object, mnist: object) -> None:
    """ART's AutoProjectedGradientDescent(norm=2), called as the attack calls it."""
    from art.attacks.evasion import AutoProjectedGradientDescent

    from lilbench.attacks.base import AttackContext, Point

    clf, x, y = _art_inputs(small_model, mnist, 48)
    spec = parse_attack(
        {"name": "apgd", "eps": [1.0], "norm": "2", "max_iter": 10, "batch_size": 16}
    )
    ctx = AttackContext(clf, x, y, seed=4, batch_size=16)
    ours = spec.generate(ctx, Point(eps=1.0, step=1.0), slice(None)).numpy()
    np.random.seed(4)
    stock = AutoProjectedGradientDescent(
        clf,
        norm=2,
        eps=1.0,
        eps_step=2.0,
        max_iter=10,
        nb_random_init=1,
        batch_size=16,
        loss_type="cross_entropy",
        verbose=False,
    ).generate(x=x, y=y)
    assert np.array_equal(ours, stock)
    assert np.linalg.norm((ours - x).reshape(48, -1), axis=1).max() <= 1.0 + 1e-5


def test_l2_pgd_is_arts_pgd_with_norm_2(small_model: object, mnist: object) -> None:
    """The numbers are ART's: the same seed gives ART's stock L2 PGD bit for bit."""
    from art.attacks.evasion.projected_gradient_descent.projected_gradient_descent_pytorch import (
        ProjectedGradientDescentPyTorch,
    )

    from lilbench.attacks import art_backend as art

    clf, x, y = _art_inputs(small_model, mnist, 64)
    ours = art.art_pgd(
        clf, x, y, eps=1.0, step=0.25, steps=5, restarts=1, batch_size=32, seed=3, norm=2
    )
    np.random.seed(3)
    stock = ProjectedGradientDescentPyTorch(
        clf,
        norm=2,
        eps=1.0,
        eps_step=0.25,
        max_iter=5,
        num_random_init=1,
        batch_size=32,
        verbose=False,
    ).generate(x=x, y=y)
    assert np.linalg.norm((ours - x).reshape(64, -1), axis=1).max() <= 1.0 + 1e-5
    assert np.array_equal(ours, stock)


def test_the_cli_runs_fgsm_in_l2_and_refuses_arts_ensemble(
    small_model: object, capsys: pytest.CaptureFixture[str]
) -> None:
    ckpt = small_model.checkpoint  # type: ignore[attr-defined]
    base = ["--checkpoint", str(ckpt.path), "--runs-dir", str(ckpt.path.parent.parent)]
    code, out, err = cli(
        ["attack", "fgsm", *base, "--norm", "2", "--eps", "1,3", "--test-limit", "50"], capsys
    )
    assert code == 0, err
    assert "FGSM-L2" in out
    code, _, err = cli(
        ["attack", "autoattack", *base, "--norm", "2", "--eps", "1", "--version", "art"], capsys
    )
    assert code == 2 and "version art" in err and "Traceback" not in err
    code, _, err = cli(["attack", "fgsm", *base, "--eps", "2"], capsys)
    assert code == 2 and "[0, 1]" in err


# Certificates over an L2 ball.

L2_BOUNDS = ("ibp", "crown", "alpha-crown", "lipschitz")


def _l2_points(x: torch.Tensor, eps: float, count: int, gen: torch.Generator) -> torch.Tensor:
    """Points of the L2 ball around each row of x, clipped into [0, 1] (clipping only moves
    a point closer to a centre that lies in [0, 1]): inside, and on the sphere."""
    d = torch.randn(count, *x.shape, generator=gen, dtype=torch.float64)
    d = d / d.norm(dim=-1, keepdim=True)
    r = torch.rand(count, x.shape[0], 1, generator=gen, dtype=torch.float64)
    r[: count // 2] = 1.0  # half on the sphere itself
    return (x + eps * r * d).clamp(0, 1)


@pytest.mark.parametrize("act", ["tanh", "relu"])
@pytest.mark.parametrize("depth", [1, 2, 3])
def test_no_point_of_the_l2_ball_beats_any_bound(act: str, depth: int) -> None:
    from torch import nn

    from lilbench.certify.bounds import Chain, margin_matrix, margins

    for seed in range(3):
        torch.manual_seed(seed)
        layers: list[nn.Module] = []
        fan_in = 6
        for _ in range(depth):
            layers += [nn.Linear(fan_in, 8), nn.Tanh() if act == "tanh" else nn.ReLU()]
            fan_in = 8
        layers.append(nn.Linear(fan_in, 4))
        for m in layers:
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, std=1.5 / m.in_features**0.5)
                nn.init.normal_(m.bias, std=0.5)
        net = nn.Sequential(*layers).double()
        chain = Chain.from_layers(list(net))
        gen = torch.Generator().manual_seed(seed)
        x = torch.rand(5, 6, generator=gen, dtype=torch.float64)
        labels = torch.randint(0, 4, (5,), generator=gen)
        eps = 0.05 + float(torch.rand(1, generator=gen)) * 0.6
        bounds = {k: margins(k, chain, x, labels, eps, norm="2") for k in L2_BOUNDS}
        spec = margin_matrix(labels, 4)
        with torch.no_grad():
            for p in _l2_points(x, eps, 4000, gen):
                m = (spec @ net(p)[:, :, None])[..., 0]
                for name, b in bounds.items():
                    assert (m >= b - 1e-9).all(), (name, seed, float((b - m).max()))
        assert (bounds["crown"] >= bounds["ibp"] - 1e-12).all()
        # the L2 ball lies inside the L-inf ball of the same radius: never looser
        for name in ("ibp", "crown"):
            assert (bounds[name] >= margins(name, chain, x, labels, eps) - 1e-12).all()


@pytest.mark.parametrize("eps", [0.05, 0.3])
def test_on_one_linear_layer_every_l2_bound_is_the_closed_form(eps: float) -> None:
    """A linear margin's minimum over an L2 ball that lies inside [0, 1] is
    margin - eps * ||w_y - w_j||_2; every method must give exactly that."""
    from torch import nn

    from lilbench.certify.bounds import Chain, margin_matrix, margins

    torch.manual_seed(5)
    net = nn.Sequential(nn.Linear(6, 4)).double()
    chain = Chain.from_layers(list(net))
    x = eps + torch.rand(9, 6, dtype=torch.float64) * (1 - 2 * eps)  # the ball inside [0, 1]
    labels = torch.randint(0, 4, (9,))
    spec = margin_matrix(labels, 4)
    w = net[0].weight.detach()
    with torch.no_grad():
        exact = (spec @ net(x)[:, :, None])[..., 0] - eps * (spec @ w).norm(dim=-1)
    for name in L2_BOUNDS:
        got = margins(name, chain, x, labels, eps, norm="2")
        assert torch.allclose(got, exact, atol=1e-12, rtol=0), name


def test_l2_certificates_never_certify_what_l2_pgd_breaks(small_model: object) -> None:
    from lilbench.attacks.checks import unpack_mask
    from lilbench.certify.runner import unpack_bits
    from lilbench.certify.spec import CertifySpec
    from lilbench.results.attack_runs import ensure_attack
    from lilbench.results.certificates import ensure_certificate

    ckpt = small_model.checkpoint  # type: ignore[attr-defined]
    runs = ckpt.path.parent.parent
    eps = (0.25, 0.5, 1.0)
    cert = ensure_certificate(ckpt, CertifySpec(eps=eps, norm="2"), runs_dir=runs, limit=100).record
    assert cert.passed and cert.params == {
        "eps": list(eps),
        "methods": ["crown", "ibp", "lipschitz"],
        "norm": "2",
    }
    pgd = parse_attack({"name": "pgd", "eps": list(eps), "norm": "2", "steps": 20, "restarts": 1})
    attacked = ensure_attack(ckpt, pgd, runs_dir=runs, limit=100, seed=0).record
    total = 0
    for p in cert.points:
        proven = unpack_bits(p.bits, p.n)
        point = next(a for a in attacked.points if a.eps == p.eps)
        assert point.correct_bits is not None
        still = unpack_mask(point.correct_bits, point.n)
        assert not (proven & ~still).any(), (p.method, p.eps)
        total += int(proven.sum())
    assert total > 0  # the test certifies something, or it would show nothing


def test_certify_refuses_bad_l2_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from lilbench.certify.spec import CertifySpec

    with pytest.raises(ConfigError, match="unknown norm"):
        CertifySpec(norm="3").validate()
    with pytest.raises(ConfigError, match="L2 radius"):
        CertifySpec(eps=(-0.1,), norm="2").validate()
    assert CertifySpec(eps=(2.0,), norm="2").validate().params()["norm"] == "2"
    assert "norm" not in CertifySpec().params()  # L-inf keys as before
    code, _, err = cli(["certify", "--norm", "3", "--runs-dir", str(tmp_path / "r")], capsys)
    assert code == 2 and "unknown norm" in err and not (tmp_path / "r").exists()


def test_model_checks_and_worst_cases_never_pool_norms() -> None:
    """An L2 record at the same eps as L-inf ones is another ball: the masking check, the
    worst case and the full-eps check read it in its own norm."""
    from helpers import attack_record

    from lilbench.attacks.model_checks import check_chance_at_full_eps, check_masking, worst_case

    bits = lambda k: np.packbits(np.arange(100) < k).tobytes().hex()  # noqa: E731
    linf = attack_record(
        {
            "attack": "pgd",
            "label": "pgd-eps",
            "params": {"name": "pgd", "eps": [0.5, 1.0], "step": None, "steps": 10},
            "points": [
                {"eps": 0.5, "correct": 60, "accuracy": 0.6, "correct_bits": bits(60)},
                {"eps": 1.0, "correct": 0, "accuracy": 0.0, "correct_bits": bits(0)},
            ],
        }
    )
    # a gradient-free L2 attack far "stronger" at eps 0.5 than L-inf PGD: no masking signal
    square_l2 = attack_record(
        {
            "attack": "square",
            "label": "square-l2",
            "params": {"name": "square", "eps": [0.5], "norm": "2"},
            "points": [{"eps": 0.5, "correct": 10, "accuracy": 0.1, "correct_bits": bits(10)}],
        }
    )
    records = {"pgd-eps": linf, "square-l2": square_l2}
    masking = check_masking(records)
    assert masking is not None and not masking.passed  # nothing of its own norm to compare
    assert "shares no eps" in masking.detail
    square_linf = square_l2.model_copy(
        update={"label": "square", "params": {"name": "square", "eps": [0.5]}}
    )
    bad = check_masking({"pgd-eps": linf, "square": square_linf})
    assert bad is not None and not bad.passed and "Square 0.1000 < best gradient" in bad.detail
    assert worst_case(records)[0.5] == (60, 100, ["pgd-eps"])
    full = check_chance_at_full_eps(records, 10, input_dim=784)
    assert full.passed and "square-l2" not in full.detail  # L2's full radius is 28, not 1


def test_brackets_pair_a_certificate_only_with_attacks_of_its_norm() -> None:
    from helpers import attack_record

    from lilbench.results.certificates import brackets
    from lilbench.schemas import CertificateRecord

    bits = np.packbits(np.arange(100) < 50).tobytes().hex()
    cert = {
        "schema": 1,
        "kind": "certificate",
        "params": {"eps": [0.5], "methods": ["crown"]},
        "checkpoint": {"config_hash": "c", "tensors_sha256": "t"},
        "samples": {"n": 100},
        "clean": {"correct": 90, "accuracy": 0.9},
        "points": [{"method": "crown", "eps": 0.5, "n": 100, "certified": 50, "bits": bits}],
        "checks": [],
        "passed": True,
    }
    l2 = attack_record(
        {
            "attack": "pgd",
            "label": "pgd-eps-l2",
            "params": {"name": "pgd", "eps": [0.5], "step": None, "steps": 5, "norm": "2"},
            "points": [{"eps": 0.5, "correct": 50, "correct_bits": bits}],  # as its bits say
        }
    )
    linf = CertificateRecord.model_validate(cert)
    assert brackets(linf, {"pgd-eps-l2": l2})[0].upper is None  # no L-inf attack ran
    cert["params"] = {**cert["params"], "norm": "2"}
    in_l2 = brackets(CertificateRecord.model_validate(cert), {"pgd-eps-l2": l2})[0]
    assert in_l2.upper == 50 and in_l2.attacks == ("pgd-eps-l2",)


# lilbench's own L2 members: APGD (ART's arithmetic), FAB-T, Square, the standard AutoAttack.


@pytest.mark.parametrize(
    ("loss", "eps", "restarts", "targeted"),
    [("ce", 0.5, 1, False), ("dlr", 1.0, 1, False), ("ce", 1.0, 2, False), ("dlr", 1.0, 1, True)],
)
def test_l2_apgd_engine_equals_arts_bit_for_bit(
    loss: str, eps: float, restarts: int, targeted: bool, small_model: object, mnist: object
) -> None:
    """Same seed, same model: ART's AutoProjectedGradientDescent(norm=2) float for float, over
    several ART batches (64 of 200 images), with restarts, and targeted (APGD-T's form)."""
    from art.attacks.evasion import AutoProjectedGradientDescent

    from lilbench.attacks.kernels import apgd as fast

    clf, x, y = _art_inputs(small_model, mnist, 200)
    labels = (y + 1) % 10 if targeted else y
    np.random.seed(3)
    stock = AutoProjectedGradientDescent(
        clf,
        norm=2,
        eps=eps,
        eps_step=2 * eps,
        max_iter=20,
        nb_random_init=restarts,
        batch_size=64,
        loss_type={"ce": "cross_entropy", "dlr": "difference_logits_ratio"}[loss],
        targeted=targeted,
        verbose=False,
    ).generate(x=x, y=np.eye(10, dtype=np.float32)[labels])
    np.random.seed(3)
    ours = fast.apgd(
        clf.model,
        torch.from_numpy(x),
        torch.from_numpy(labels.astype(np.int64)),
        eps=eps,
        loss=loss,
        max_iter=20,
        restarts=restarts,
        batch_size=64,
        targeted=targeted,
        norm="2",
    ).numpy()
    assert np.array_equal(ours, stock)
    assert (ours != x).any()  # it moved: equality of two no-ops would prove nothing
    assert np.linalg.norm((ours - x).reshape(200, -1), axis=1).max() <= eps * (1 + 1e-6)


def _minimal_l2(w: np.ndarray, b: float, x: np.ndarray) -> float:
    """The smallest L2 norm of d with w . (x + d) + b <= 0 and x + d in [0, 1], by scipy's
    SLSQP on the QP min |d|^2: independent of lilbench's Newton iteration."""
    from scipy.optimize import minimize

    res = minimize(
        lambda d: float(d @ d),
        np.zeros_like(x),
        jac=lambda d: 2 * d,
        method="SLSQP",
        constraints=[{"type": "ineq", "fun": lambda d: -(w @ (x + d) + b), "jac": lambda d: -w}],
        bounds=list(zip(-x, 1 - x, strict=True)),
        options={"ftol": 1e-14, "maxiter": 1000},
    )
    assert res.success, res.message
    return float(np.sqrt(res.x @ res.x))


@pytest.mark.parametrize("compiled", [True, False])
def test_l2_fab_t_finds_the_minimal_l2_perturbation_of_a_linear_model(compiled: bool) -> None:
    """Two live classes, so only the target's half space is adversarial; its smallest L2
    distance inside the box is a QP. FAB-T L2's point is adversarial, never closer than that,
    and within 1% of it. Inputs on the box walls make the box bind."""
    from torch import nn

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
    adv, dist = fab.fab_targeted(model, x, y, target, max_iter=100, norm="2", compiled=compiled)
    w = model.weight.detach().double().numpy()
    b = model.bias.detach().double().numpy()
    truth = np.array(
        [
            _minimal_l2(w[y[i]] - w[target[i]], b[y[i]] - b[target[i]], x[i].double().numpy())
            for i in range(len(x))
        ]
    )
    found = dist.numpy()
    assert (model(adv).argmax(1) != y).all()
    assert ((adv >= 0) & (adv <= 1)).all()
    assert np.allclose((adv - x).norm(dim=1).numpy(), found, rtol=1e-5)
    assert (found >= truth * (1 - 1e-4)).all()  # never below the true minimum
    assert (found <= truth * 1.01).all(), np.max(found / truth)


def test_compiled_and_torch_l2_fab_steps_agree() -> None:
    """The numba L2 step and the torch L2 step are the same maths (float64 vs float32)."""
    from lilbench.attacks.kernels import fab

    g = torch.Generator().manual_seed(1)
    x0 = torch.rand(64, 50, generator=g).round_()  # half the rooms are 0
    x1 = (x0 + 0.1 * torch.randn(64, 50, generator=g)).clamp(0, 1)
    w = torch.randn(64, 50, generator=g)
    gap = 3 * torch.randn(64, generator=g)
    a, ea = fab.torch_step(x1, x0, w, gap, None, eta=1.05, alpha_max=0.1, norm="2")
    b, eb = fab.compiled_step(x1, x0, w, gap, None, eta=1.05, alpha_max=0.1, norm="2")
    assert torch.allclose(a, b, atol=1e-5)
    assert torch.allclose(ea.double(), eb, rtol=1e-3, atol=1e-6)


def test_l2_projection_is_the_qp_solution() -> None:
    """The L2 projection onto w . z = b inside [0, 1] equals the QP's minimiser's norm."""
    from lilbench.attacks.kernels import fab

    g = torch.Generator().manual_seed(2)
    p = torch.rand(12, 25, generator=g, dtype=torch.float64)
    w = torch.randn(12, 25, generator=g, dtype=torch.float64)
    b = (w * p).sum(1) + 0.5 * torch.randn(12, generator=g, dtype=torch.float64)
    d, _ = fab.project_to_hyperplane_l2(p, w, b)
    z = p + d
    assert ((z >= -1e-12) & (z <= 1 + 1e-12)).all()
    reached = ((w * z).sum(1) - b).abs() <= 1e-9
    assert reached.sum() >= 6
    for i in range(12):
        if not reached[i]:
            continue
        wi, pi = w[i].numpy(), p[i].numpy()
        sign = np.sign(float(b[i]) - wi @ pi)
        truth = _minimal_l2(-sign * wi, sign * float(b[i]), pi)
        assert float(d[i].norm()) == pytest.approx(truth, rel=1e-5)


def test_l2_square_is_no_weaker_than_arts(small_model: object, mnist: object) -> None:
    """A window pair per image (lilbench) against ART's L2 Square, same model, seed and
    query budget: lilbench's robust accuracy within 2 images of 500 above ART's, and every
    point within eps in L2 (the runner's checks)."""
    from lilbench.attacks import Square
    from lilbench.attacks.runner import run_attack
    from lilbench.training.checkpoint import load_model

    model = load_model(small_model.checkpoint.path, input_dim=784)  # type: ignore[attr-defined]
    x, y = mnist.x_test[:500], mnist.y_test[:500]  # type: ignore[attr-defined]
    robust = {}
    for engine in ("lilbench", "art"):
        out = run_attack(
            model,
            Square(eps=(1.0,), max_iter=100, engine=engine, norm="2"),
            x,
            y,
            num_classes=10,
            seed=0,
        )
        assert out.passed, [c for c in out.checks if not c.passed]
        robust[engine] = out.points[0].correct
    assert robust["lilbench"] <= robust["art"] + 2, robust


def test_the_worst_case_is_computed_per_norm() -> None:
    """Two L2 attacks and two L-inf attacks at the same eps values: each norm's worst case
    joins only its own attacks' bits, and the verdict gets one worst-case family per norm."""
    from helpers import attack_record

    from lilbench.results.comparisons import worst_case_masks, worst_name

    bits = lambda k: np.packbits(np.arange(100) < k).tobytes().hex()  # noqa: E731
    shift = lambda k: np.packbits(np.arange(100) >= 100 - k).tobytes().hex()  # noqa: E731

    def rec(name: str, label: str, norm: str, correct: list[int], pack: Any) -> Any:
        params: dict[str, Any] = {"name": name, "eps": [0.5, 1.0]}
        if norm == "2":
            params["norm"] = "2"
        if name == "pgd":
            params.update(step=None, steps=10)
        return attack_record(
            {
                "attack": name,
                "label": label,
                "params": params,
                "points": [
                    {"eps": e, "correct": c, "accuracy": c / 100, "correct_bits": pack(c)}
                    for e, c in zip((0.5, 1.0), correct, strict=True)
                ],
            }
        )

    records = {
        "fgsm": rec("fgsm", "fgsm", "inf", [90, 80], bits),
        "pgd-eps": rec("pgd", "pgd-eps", "inf", [70, 50], bits),
        "fgsm-l2": rec("fgsm", "fgsm-l2", "2", [60, 40], bits),
        "pgd-eps-l2": rec("pgd", "pgd-eps-l2", "2", [60, 40], shift),  # other images broken
    }

    class Result:
        model_checks = True

        def completed_attacks(self) -> dict[str, Any]:
            return records

    linf = worst_case_masks(Result())  # type: ignore[arg-type]
    l2 = worst_case_masks(Result(), "2")  # type: ignore[arg-type]
    assert linf[0.5][1] == ["fgsm", "pgd-eps"] and int(linf[0.5][0].sum()) == 70
    assert l2[0.5][1] == ["fgsm-l2", "pgd-eps-l2"]
    # images 0-59 survive FGSM-L2, images 40-99 survive PGD-L2: 20 survive both at 0.5; at 1
    # FGSM-L2 leaves 0-39 and PGD-L2 60-99, so none survives both (and every smaller ball)
    assert int(l2[0.5][0].sum()) == 20 and int(l2[1.0][0].sum()) == 0
    assert worst_name("2") == "worst case of all L2 attacks"
