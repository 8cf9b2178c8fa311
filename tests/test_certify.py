"""Certified bounds are sound (no point of the ball beats them), CROWN is at least as tight
as IBP and alpha-CROWN at least as tight as CROWN, and at eps = 0 they are the network's own
margins."""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from helpers import assert_every_record_passed
from torch import nn

from lilbench.certify.bounds import Chain, certified, margin_matrix, margins, problem
from lilbench.certify.inputs import InputSet
from lilbench.certify.methods import Problem
from lilbench.certify.methods import alpha_crown as alpha_mod
from lilbench.certify.methods import crown as crown_mod
from lilbench.certify.methods import ibp as ibp_mod
from lilbench.certify.relax import RELAXATIONS, Free, Lines
from lilbench.threats import threat

# The methods through their files, by the signatures these tests were written against.


def crown_margins(
    chain: Chain,
    x: torch.Tensor,
    labels: torch.Tensor,
    eps: float,
    lo: float = 0.0,
    hi: float = 1.0,
    norm: str = "inf",
    *,
    intersect: bool = True,
) -> torch.Tensor:
    batch = problem(chain, x, labels, eps, norm, lo, hi)
    return crown_mod.crown_margins(batch, intersect=intersect)


def alpha_crown_margins(
    chain: Chain,
    x: torch.Tensor,
    labels: torch.Tensor,
    eps: float,
    lo: float = 0.0,
    hi: float = 1.0,
    norm: str = "inf",
    *,
    intermediate: bool = False,
) -> torch.Tensor:
    batch = problem(chain, x, labels, eps, norm, lo, hi)
    return alpha_mod.alpha_crown_margins(batch, intermediate=intermediate)


def ibp_margins(*args: Any) -> torch.Tensor:
    return margins("ibp", *args[:4], *args[6:], *args[4:6])


def lipschitz_margins(*args: Any) -> torch.Tensor:
    return margins("lipschitz", *args[:4], *args[6:], *args[4:6])


def _box_problem(chain: Chain, lo: torch.Tensor, hi: torch.Tensor) -> Problem:
    inputs = InputSet((lo + hi) / 2, 0.0, threat("inf"), lo, hi)  # L-inf: the box is the set
    return Problem(chain, (lo + hi) / 2, torch.zeros(len(lo), dtype=torch.long), inputs)


def ibp_layer_bounds(
    chain: Chain, lo: torch.Tensor, hi: torch.Tensor
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return ibp_mod.ibp_layer_bounds(_box_problem(chain, lo, hi))


def crown_layer_bounds(
    chain: Chain, lo: torch.Tensor, hi: torch.Tensor, *, intersect: bool = True
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return crown_mod.crown_layer_bounds(_box_problem(chain, lo, hi), intersect=intersect)[0]


def _relaxation(act: str, lb: torch.Tensor, ub: torch.Tensor) -> Lines:
    return RELAXATIONS.get(act).lines(lb, ub)


def _free_lines(act: str, lb: torch.Tensor, ub: torch.Tensor) -> Free:
    return RELAXATIONS.get(act).free(lb, ub)


def _lines(
    act: str, lb: torch.Tensor, ub: torch.Tensor, free: Free, t_lo: torch.Tensor, t_up: torch.Tensor
) -> Lines:
    return RELAXATIONS.get(act).lines_at(lb, ub, free, t_lo, t_up)


BOUNDS = {
    "ibp": ibp_margins,
    "crown": crown_margins,
    "crown alone": lambda *a: crown_margins(*a, intersect=False),
    "alpha-crown": alpha_crown_margins,
    "alpha-crown-full": lambda *a: alpha_crown_margins(*a, intermediate=True),
    "lipschitz": lipschitz_margins,
}


def _net(seed: int, act: type[nn.Module], depth: int, d: int = 6, width: int = 8) -> nn.Sequential:
    torch.manual_seed(seed)
    layers: list[nn.Module] = []
    fan_in = d
    for _ in range(depth):
        layers += [nn.Linear(fan_in, width), act()]
        fan_in = width
    layers.append(nn.Linear(fan_in, 4))
    for p in layers:
        if isinstance(p, nn.Linear):
            nn.init.normal_(p.weight, std=1.5 / fan_in**0.5)  # varied slopes: crossings happen
            nn.init.normal_(p.bias, std=0.5)
    return nn.Sequential(*layers).double()


def _true_margins(net: nn.Module, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return (margin_matrix(labels, 4) @ net(x)[:, :, None])[..., 0]


def _pgd_min_margin(
    net: nn.Module, x: torch.Tensor, labels: torch.Tensor, eps: float, steps: int = 50
) -> torch.Tensor:
    """PGD on the smallest margin, clipped to the ball and [0, 1]: a strong empirical minimum."""
    lo, hi = (x - eps).clamp(0, 1), (x + eps).clamp(0, 1)
    z = (lo + hi) / 2 + (torch.rand_like(x) - 0.5) * (hi - lo)
    for _ in range(steps):
        z.requires_grad_(True)
        m = _true_margins(net, z, labels).min(dim=1).values.sum()
        (g,) = torch.autograd.grad(m, z)
        z = torch.max(torch.min(z.detach() - eps / 10 * g.sign(), hi), lo)
    return _true_margins(net, z, labels).detach()


@pytest.mark.parametrize("act", [nn.Tanh, nn.ReLU])
@pytest.mark.parametrize("depth", [1, 2, 3])
def test_no_point_of_the_ball_beats_any_bound(act: type[nn.Module], depth: int) -> None:
    for seed in range(3):
        net = _net(seed, act, depth)
        chain = Chain.from_layers(list(net))
        gen = torch.Generator().manual_seed(seed)
        x = torch.rand(5, 6, generator=gen, dtype=torch.float64)
        labels = torch.randint(0, 4, (5,), generator=gen)
        eps = float(torch.rand(1, generator=gen)) * 0.3
        bounds = {name: fn(chain, x, labels, eps) for name, fn in BOUNDS.items()}
        lo, hi = (x - eps).clamp(0, 1), (x + eps).clamp(0, 1)
        # 10,000 random points per example: uniform inside, and corners of the box.
        u = torch.rand(2000, *x.shape, generator=gen, dtype=torch.float64)
        corners = (torch.rand(2000, *x.shape, generator=gen) < 0.5).double()
        for pts in (lo + u * (hi - lo), lo + corners * (hi - lo)):
            for p in pts[:5000]:
                m = _true_margins(net, p, labels)
                for name, b in bounds.items():
                    assert (m >= b - 1e-9).all(), (name, seed, float((b - m).max()))
        m = _pgd_min_margin(net, x, labels, eps)
        for name, b in bounds.items():
            assert (m >= b - 1e-9).all(), (name, "pgd", seed)
        assert (bounds["crown"] >= bounds["ibp"] - 1e-12).all()
        assert (bounds["alpha-crown"] >= bounds["crown"]).all()
        assert (bounds["alpha-crown-full"] >= bounds["crown"]).all()


@pytest.mark.parametrize("act", [nn.Tanh, nn.ReLU])
def test_alpha_crown_tightens_crown_on_deep_nets_and_is_deterministic(
    act: type[nn.Module],
) -> None:
    """Optimising the lines' positions raises many margins' bounds above CROWN's on a deep
    net at a ball where neurons cross zero; two runs give the same floats."""
    net = _net(5, act, 3, width=16)
    chain = Chain.from_layers(list(net))
    gen = torch.Generator().manual_seed(5)
    x = torch.rand(20, 6, generator=gen, dtype=torch.float64)
    labels = torch.randint(0, 4, (20,), generator=gen)
    crown = crown_margins(chain, x, labels, 0.1)
    alpha = alpha_crown_margins(chain, x, labels, 0.1)
    assert (alpha >= crown).all()
    assert (alpha > crown + 1e-6).float().mean() > 0.3, (alpha - crown).mean()
    assert torch.equal(alpha, alpha_crown_margins(chain, x, labels, 0.1))
    # certified() optimises only the images CROWN leaves unproven: the same verdicts
    full = (alpha > 0).all(dim=1)
    assert torch.equal(certified(chain, x, labels, 0.1, "alpha-crown", batch_size=7), full)
    # the hidden layers' bounds optimised too: tighter in sum here, deterministic, and the
    # same verdicts through certified()
    deep = alpha_crown_margins(chain, x, labels, 0.1, intermediate=True)
    assert (deep >= crown).all() and deep.sum() > alpha.sum()
    assert torch.equal(deep, alpha_crown_margins(chain, x, labels, 0.1, intermediate=True))
    verdicts = certified(chain, x, labels, 0.1, "alpha-crown-full", batch_size=7)
    assert torch.equal(verdicts, (deep > 0).all(dim=1))


@pytest.mark.parametrize("act", [nn.Tanh, nn.ReLU])
def test_every_hidden_layer_stays_inside_its_bounds(act: type[nn.Module]) -> None:
    """Pre-activations of sampled points lie within IBP's and CROWN's (alone) layer bounds,
    over small and large balls, so that stable (one-sided) neurons are exercised too."""
    for seed, eps in [(0, 0.002), (1, 0.02), (2, 0.1), (3, 0.4)]:
        net = _net(seed, act, 3)
        chain = Chain.from_layers(list(net))
        x = torch.rand(6, 6, dtype=torch.float64)
        lo, hi = (x - eps).clamp(0, 1), (x + eps).clamp(0, 1)
        pts = lo + torch.rand(3000, *x.shape, dtype=torch.float64) * (hi - lo)
        pts = torch.cat([pts, lo + (torch.rand(3000, *x.shape) < 0.5).double() * (hi - lo)])
        for name, pre in [
            ("ibp", ibp_layer_bounds(chain, lo, hi)),
            ("crown", crown_layer_bounds(chain, lo, hi, intersect=False)),
        ]:
            h = pts
            for i, (zl, zu) in enumerate(pre):
                z = h @ chain.weights[i].T + chain.biases[i]
                assert (z >= zl - 1e-9).all() and (z <= zu + 1e-9).all(), (name, seed, i)
                h = torch.tanh(z) if act is nn.Tanh else torch.relu(z)


@pytest.mark.parametrize("act", [nn.Tanh, nn.ReLU])
def test_at_eps_zero_every_bound_is_the_margin_itself(act: type[nn.Module]) -> None:
    net = _net(7, act, 3)
    chain = Chain.from_layers(list(net))
    x = torch.rand(8, 6, dtype=torch.float64)
    labels = torch.randint(0, 4, (8,))
    exact = _true_margins(net, x, labels)
    for name, fn in BOUNDS.items():
        assert torch.allclose(fn(chain, x, labels, 0.0), exact, atol=1e-9), name


@pytest.mark.parametrize("eps", [0.01, 0.07])
def test_on_one_linear_layer_every_bound_is_the_closed_form(eps: float) -> None:
    """A linear model's margin z_y - z_j falls fastest along -eps * sign(w_y - w_j): its
    minimum over a box that lies inside [0, 1] is margin - eps * ||w_y - w_j||_1, and every
    method must find exactly that (not a sound but looser value, nor a tighter one)."""
    torch.manual_seed(11)
    net = nn.Sequential(nn.Linear(6, 4)).double()
    chain = Chain.from_layers(list(net))
    x = eps + torch.rand(9, 6, dtype=torch.float64) * (1 - 2 * eps)  # box inside [0, 1]
    labels = torch.randint(0, 4, (9,))
    w = net[0].weight.detach()
    spec = margin_matrix(labels, 4)
    exact = _true_margins(net, x, labels) - eps * (spec @ w).abs().sum(-1)
    for name, fn in BOUNDS.items():
        assert torch.allclose(fn(chain, x, labels, eps), exact, atol=1e-12, rtol=0), name


def test_crown_is_tighter_than_ibp_somewhere_and_lipschitz_loosest_on_deep_tanh() -> None:
    """Not a soundness property, but what makes CROWN worth having: on a deeper tanh network
    its bounds are strictly tighter than IBP's for most margins."""
    net = _net(3, nn.Tanh, 3)
    chain = Chain.from_layers(list(net))
    x = torch.rand(20, 6, dtype=torch.float64)
    labels = torch.randint(0, 4, (20,))
    b = {name: fn(chain, x, labels, 0.05) for name, fn in BOUNDS.items()}
    assert (b["crown"] > b["ibp"] + 1e-9).float().mean() > 0.5
    assert (b["lipschitz"] <= b["crown"] + 1e-9).float().mean() > 0.9


def test_unsupported_layers_are_refused() -> None:
    from lilbench.errors import ConfigError

    with pytest.raises(ConfigError, match="cannot bound a Sigmoid"):
        Chain.from_layers([nn.Linear(2, 2), nn.Sigmoid(), nn.Linear(2, 2)])


def test_a_spectrally_normalised_net_is_bounded_as_its_effective_weights() -> None:
    """torch's parametrize (spectral_norm) subclasses Linear and recomputes the weight: the
    layer is still affine, and its bounds are those of a plain Linear holding W / sigma (the
    defences suite's lil+sn models were refused before this was checked)."""
    torch.manual_seed(0)
    plain = _net(2, nn.Tanh, 2)
    normed = _net(2, nn.Tanh, 2)
    for m in normed:
        if isinstance(m, nn.Linear):
            nn.utils.parametrizations.spectral_norm(m)
    normed.eval()
    with torch.no_grad():
        for a, b in zip(plain, normed, strict=True):
            if isinstance(b, nn.Linear):
                a.weight.copy_(b.weight)  # the effective weight, W / sigma
                a.bias.copy_(b.bias)
    x = torch.rand(40, 6, dtype=torch.float64)
    labels = plain(x).argmax(1)
    assert torch.equal(labels, normed(x).argmax(1))
    got = Chain.from_layers(list(normed))
    want = Chain.from_layers(list(plain))
    for eps in (0.01, 0.05, 0.2):
        a = certified(got, x, labels, eps, "crown")
        assert torch.equal(a, certified(want, x, labels, eps, "crown"))
    assert certified(got, x, labels, 0.01, "crown").any()  # not vacuous: some are proven


def test_certified_is_per_example_and_batched_the_same() -> None:
    net = _net(1, nn.Tanh, 2)
    chain = Chain.from_layers(list(net))
    x = torch.rand(30, 6, dtype=torch.float64)
    labels = net(x).argmax(1)  # correct everywhere, so small eps certifies many
    one = certified(chain, x, labels, 0.01, "crown", batch_size=7)
    assert torch.equal(one, certified(chain, x, labels, 0.01, "crown", batch_size=128))
    assert one.any()
    assert not certified(chain, x, (labels + 1) % 4, 0.0, "ibp").any()  # wrong class: never


@pytest.mark.parametrize("act", ["tanh", "relu"])
def test_each_relaxation_line_bounds_the_activation_on_its_interval(act: str) -> None:
    """The building block of CROWN, checked directly on a dense grid: for intervals wholly
    negative, wholly positive, crossing zero and (near-)points, lower line <= act <= upper."""
    gen = torch.Generator().manual_seed(0)
    centre = torch.randn(4000, generator=gen, dtype=torch.float64) * 3
    half = torch.rand(4000, generator=gen, dtype=torch.float64) ** 3 * 4
    half[:200] = 0.0  # points
    lb, ub = centre - half, centre + half
    a_lo, b_lo, a_up, b_up = _relaxation(act, lb, ub)
    t = torch.linspace(0, 1, 401, dtype=torch.float64)[:, None]
    z = lb + t * (ub - lb)
    f = torch.tanh(z) if act == "tanh" else torch.relu(z)
    assert (a_lo * z + b_lo <= f + 1e-12).all()
    assert (a_up * z + b_up >= f - 1e-12).all()
    regimes = [(ub <= 0) & (half > 0), (lb >= 0) & (half > 0), (lb < 0) & (ub > 0)]
    assert all(int(r.sum()) > 100 for r in regimes)  # every branch is exercised


def test_certified_never_exceeds_what_the_attacks_leave_on_committed_models(
    tmp_path: Path,
) -> None:
    """The committed fixture models (tests/fixtures/old-runs) with their stored FGSM and PGD
    records: no image certified at eps is broken by an attack at eps or below, per image."""
    from lilbench.certify.spec import CertifySpec
    from lilbench.results.certificates import brackets, ensure_certificate
    from lilbench.results.suite_results import collect_suite
    from lilbench.suites import load_suite

    fixtures = Path(__file__).resolve().parent / "fixtures"
    runs = tmp_path / "runs"
    shutil.copytree(fixtures / "old-runs", runs)
    suite = load_suite(fixtures / "old-runs-suite.yaml")
    results, missing = collect_suite(suite, runs_dir=runs)
    assert not missing
    for r in results:
        assert r.checkpoint is not None
        spec = CertifySpec(eps=(0.001, 0.01, 0.1, 0.3, 0.5))
        record = ensure_certificate(r.checkpoint, spec, runs_dir=runs, limit=50).record
        assert record.passed, record.checks
        found = brackets(record, r.completed_attacks())
        assert [b.eps for b in found] == [0.001, 0.01, 0.1, 0.3, 0.5]
        for b in found:
            assert b.violations == 0, b
            if b.upper is not None:
                assert b.certified <= b.upper
        assert any(b.upper is not None for b in found)
        assert found[0].certified > 0  # something is proven at the smallest eps


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--method", "crwn"], "unknown certificate method 'crwn'; known: alpha-crown"),
        (["--eps", "nan"], "got nan"),
        (["--eps", "2"], "must lie in [0, 1]"),
        (["--batch-size", "0"], "batch_size must be >= 1"),
    ],
)
def test_bad_certify_options_exit_2_before_training(
    args: list[str], says: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from helpers import cli

    code, _, err = cli(["certify", *args, "--runs-dir", str(tmp_path / "runs")], capsys)
    assert code == 2 and says in err, err
    assert not (tmp_path / "runs").exists()


def test_suite_certify_key_is_validated(tmp_path: Path) -> None:
    from lilbench.errors import ConfigError
    from lilbench.suites import load_suite

    path = tmp_path / "s.yaml"
    path.write_text("name: s\nbetas: [0]\ncertify: {eps: [0.01], method: [ibp]}\n")
    with pytest.raises(ConfigError, match="unknown key"):
        load_suite(path)
    path.write_text("name: s\nbetas: [0]\ncertify: {eps: [0.01], methods: [ibp]}\n")
    spec = load_suite(path).certify_in("inf")
    assert spec is not None and spec.methods == ("ibp",) and spec.eps == (0.01,)


def test_a_suite_refuses_a_layer_certificates_cannot_take_before_training(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """What cost the defences suite 37 minutes once: a layer the certificates refuse is found
    when the run starts, from the untrained models, not after the first models are trained
    and attacked. Simulated by making the spectral-norm layers unknown again."""
    from helpers import cli

    from lilbench.certify import affine

    suite = tmp_path / "s.yaml"
    suite.write_text(
        "name: s\ntrain: {epochs: 1, width: 8, limit: 200}\nmethods:\n  - objective: lil\n"
        "    beta: [0]\n  - objective: lil\n    spectral_norm: true\ntest_limit: 20\n"
        "certify: {eps: [0.01], methods: [ibp]}\nattacks: [{name: fgsm, eps: [0.1]}]\n"
    )
    known = affine.is_affine
    monkeypatch.setattr(
        affine, "is_affine", lambda m: "Parametrized" not in type(m).__name__ and known(m)
    )
    from lilbench.certify import chain

    monkeypatch.setattr(chain, "is_affine", affine.is_affine)
    runs = tmp_path / "runs"
    code, _, err = cli(["run", str(suite), "--runs-dir", str(runs), "--workers", "1"], capsys)
    assert code == 2, err
    assert "lil+sn beta=0: certify: cannot bound a ParametrizedLinear layer" in err
    assert len(err.strip().splitlines()) == 1
    assert not (runs / "models").exists()  # nothing trained
    monkeypatch.undo()  # as the code is: the same suite runs and certifies both
    code, _, err = cli(["run", str(suite), "--runs-dir", str(runs), "--workers", "1"], capsys)
    assert code == 0, err
    assert len(list((runs / "certificates").glob("*/*.json"))) == 2


def test_spectral_norm_product_bounds_the_sampled_lipschitz_constant(
    tmp_path: Path,
) -> None:
    """The global bound is a bound: on a committed fixture model, no sampled pair of nearby
    inputs stretches the logits by more than the product of the layers' spectral norms."""
    from lilbench.diagnostics import spectral_norm_product
    from lilbench.training.checkpoint import load_model

    fixtures = Path(__file__).resolve().parent / "fixtures" / "old-runs" / "models"
    for ckpt in sorted(fixtures.iterdir()):
        runs = tmp_path / ckpt.name
        shutil.copytree(ckpt, runs)
        model = load_model(runs)
        bound = spectral_norm_product(model)
        x = torch.rand(200, 784)
        d = (torch.rand(200, 784) - 0.5) * 0.02
        with torch.no_grad():
            ratio = (model(x + d) - model(x)).norm(dim=1) / d.norm(dim=1)
        assert 0 < float(ratio.max()) <= bound
        # and it is the product of the spectral norms (not of Frobenius norms, not inf)
        linear = [m for m in model.modules() if isinstance(m, nn.Linear)]
        product = 1.0
        for m in linear:
            product *= float(torch.linalg.matrix_norm(m.weight.detach().double(), ord=2))
        assert len(linear) >= 2 and bound == pytest.approx(product, rel=1e-9)


def test_spectral_norm_product_is_attained_by_one_linear_layer() -> None:
    """For x -> Wx + b the bound is the Lipschitz constant itself, reached along the top
    right singular vector of W."""
    from lilbench.diagnostics import spectral_norm_product

    class OneLayer(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(7, 4)

        def layers(self) -> list[nn.Module]:
            return [self.fc]

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(x)

    torch.manual_seed(0)
    model = OneLayer().double()
    bound = spectral_norm_product(model)
    v = torch.linalg.svd(model.fc.weight.detach())[2][0]  # top right singular vector
    x = torch.rand(7, dtype=torch.float64)
    with torch.no_grad():
        ratio = float((model(x + 1e-3 * v) - model(x)).norm() / (1e-3 * v).norm())
    assert ratio == pytest.approx(bound, rel=1e-9)
    assert bound < float(torch.linalg.matrix_norm(model.fc.weight.detach(), ord="fro"))


def test_suite_with_certify_and_mechanism_reports_brackets_and_trends(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from helpers import cli

    suite = tmp_path / "tinycert.yaml"
    suite.write_text(
        "name: tinycert\n"
        "train: {epochs: 1, limit: 1000, width: 16, depth: 1}\n"
        "betas: [0, 0.1, 1]\n"
        "seeds: [0]\n"
        "test_limit: 100\n"
        "attacks:\n"
        "  - {name: fgsm, eps: [0.003, 0.01, 0.03]}\n"
        "certify: {eps: [0.001, 0.01, 0.03], methods: [ibp, crown, alpha-crown]}\n"
        "mechanism: true\n"
    )
    runs, out = str(tmp_path / "runs"), tmp_path / "out"
    assert cli(["run", str(suite), "--runs-dir", runs], capsys)[0] == 0
    assert assert_every_record_passed(Path(runs)) == 3  # FGSM on each beta
    code, _, err = cli(["report", str(suite), "--runs-dir", runs, "--out-dir", str(out)], capsys)
    assert code == 0, err
    text = (out / "tinycert.md").read_text()
    assert text.count("\n**Answer.** Under FGSM at eps = 0.03") == 1
    section = text.split("## Certified lower bounds")[1].split("\n## ")[0]
    rows = [
        line for line in section.splitlines() if line.startswith("| 0") or line.startswith("| 1")
    ]
    assert len(rows) == 3 and all(row.rstrip().endswith("| 0 |") for row in rows)
    for row in rows:  # lower .. upper, and lower <= upper in every cell
        for cell in row.split("|")[2:5]:
            lo, hi = (float(v) for v in cell.split(".."))
            assert lo <= hi
    # what each certificate adds: counts never fall from a looser to a tighter bound
    per = {
        line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:5]]
        for line in section.splitlines()
        if line.startswith(("| ibp", "| crown", "| alpha-crown"))
    }
    assert list(per) == ["ibp", "crown", "alpha-crown"]
    for i in range(3):
        ibp, crown, alpha = (int(per[m][i].split()[0]) for m in per)
        assert ibp <= crown <= alpha
        assert per["crown"][i].endswith(")") and "(+" in per["alpha-crown"][i]
    assert "## The mechanism" in text and "Spearman rho" in text
    assert "earlier tanh lines" not in text  # every record has the current lines

    # a record made with the earlier lines is served as it is, and the report says so
    import json

    first = sorted((Path(runs) / "certificates").rglob("*.json"))[0]
    record = json.loads(first.read_text())
    record["crown_relaxation"] = "published"
    first.write_text(json.dumps(record))
    code, _, err = cli(["report", str(suite), "--runs-dir", runs, "--out-dir", str(out)], capsys)
    assert code == 0, err
    text = (out / "tinycert.md").read_text()
    assert (
        "earlier tanh lines for intervals that cross zero: the tangent through the far end "
        "only (1 of 3 models)" in text
    )


def test_crossing_intervals_get_crowns_published_tanh_lines() -> None:
    """For lb < 0 < ub: the upper line is the tangent at the d in [0, ub] that passes
    through (lb, tanh lb), or at the midpoint where that lies past d, or the chord exactly
    where the chord's slope is below tanh'(ub); the lower line is the mirror image. Measured
    against scipy's root of the tangency."""
    import numpy as np
    from scipy.optimize import brentq

    gen = torch.Generator().manual_seed(3)
    lb = -torch.rand(300, generator=gen, dtype=torch.float64) * 3 - 1e-3
    ub = torch.rand(300, generator=gen, dtype=torch.float64) * 3 + 1e-3
    a_lo, b_lo, a_up, b_up = _relaxation("tanh", lb, ub)
    chords = midpoints = 0
    for i in range(300):
        lo, u = float(lb[i]), float(ub[i])
        k = (np.tanh(u) - np.tanh(lo)) / (u - lo)

        def f(d: float, lo: float = lo) -> float:
            return float(np.tanh(d) - (1 - np.tanh(d) ** 2) * (d - lo) - np.tanh(lo))

        if k < 1 - np.tanh(u) ** 2:  # the chord is the published upper line
            chords += 1
            assert abs(float(a_up[i]) - k) < 1e-12
        else:
            d = brentq(f, 0.0, u, xtol=1e-15)
            m = (lo + u) / 2
            if m > d + 1e-9:  # the midpoint's tangent, above (lb, tanh lb)
                midpoints += 1
                assert abs(float(a_up[i]) - (1 - np.tanh(m) ** 2)) < 1e-12
                assert float(a_up[i]) * lo + float(b_up[i]) >= np.tanh(lo)
                continue
            assert abs(float(a_up[i]) - (1 - np.tanh(max(d, m)) ** 2)) < 1e-9
            # through (lb, tanh lb), from above by at most rounding
            gap = float(a_up[i]) * lo + float(b_up[i]) - np.tanh(lo)
            assert -1e-12 <= gap < 1e-9
    assert chords > 0 and midpoints > 0 and chords + midpoints < 300  # every branch
    # the lower line mirrors the upper one of [-ub, -lb]
    _, _, m_up, m_bu = _relaxation("tanh", -ub, -lb)
    assert torch.allclose(a_lo, m_up) and torch.allclose(b_lo, -m_bu)


def _published_tanh_lines(lo: float, hi: float) -> tuple[float, float, float, float]:
    """CROWN's lines for tanh on [lo, hi] as the published implementation states its rules
    (written again here, per neuron, with its own bisection): one-signed intervals, the chord
    and the tangent at the midpoint; crossing intervals, the chord where it stays on its side
    (slope below tanh' at the end), else the tangent through the opposite end, or at the
    midpoint where the midpoint lies between that tangent point and the end (the published
    implementation's default)."""
    f, df = math.tanh, lambda z: 1 - math.tanh(z) ** 2

    def through(other: float, upper: bool) -> float:
        ok = (
            (lambda d: df(d) * (other - d) + f(d) >= f(other))
            if upper
            else (lambda d: df(d) * (other - d) + f(d) <= f(other))
        )
        inner, outer = 0.0, 1.0 if upper else -1.0
        while not ok(outer):
            outer *= 2
        for _ in range(200):
            mid = (inner + outer) / 2
            inner, outer = (inner, mid) if ok(mid) else (mid, outer)
        return outer

    k = (f(hi) - f(lo)) / (hi - lo)
    m = (lo + hi) / 2
    chord, mid = (k, f(lo) - k * lo), (df(m), f(m) - df(m) * m)
    if hi <= 0:
        return (*mid, *chord)
    if lo >= 0:
        return (*chord, *mid)
    d_lo, d_up = min(through(hi, upper=False), m), max(through(lo, upper=True), m)
    low = chord if k < df(lo) else (df(d_lo), f(d_lo) - df(d_lo) * d_lo)
    up = chord if k < df(hi) else (df(d_up), f(d_up) - df(d_up) * d_up)
    return (*low, *up)


def test_crown_equals_an_independent_implementation_of_the_published_rules() -> None:
    """Per image and layer, a plain numpy CROWN with the published tanh lines gives the same
    margin bounds as lilbench's batched float64 CROWN without the IBP intersection (and
    lilbench's, with it, is never looser)."""
    net = _net(3, nn.Tanh, 3, d=6, width=8)
    chain = Chain.from_layers(list(net))
    ws = [w.numpy() for w in chain.weights]
    bs = [b.numpy() for b in chain.biases]
    torch.manual_seed(4)
    x, labels = torch.rand(12, 6, dtype=torch.float64), torch.randint(0, 4, (12,))
    eps = 0.08
    alone = crown_margins(chain, x, labels, eps, intersect=False).numpy()
    both = crown_margins(chain, x, labels, eps).numpy()

    def backward(
        a: np.ndarray, top: int, lines: list[np.ndarray], lo: np.ndarray, hi: np.ndarray
    ) -> np.ndarray:
        c = np.zeros(len(a))
        for i in range(top, -1, -1):
            c, a = c + a @ bs[i], a @ ws[i]
            if i == 0:
                break
            al, bl, au, bu = lines[i - 1]
            pos, neg = a.clip(0, None), a.clip(None, 0)
            c, a = c + pos @ bl + neg @ bu, pos * al + neg * au
        return c + a @ ((lo + hi) / 2) - np.abs(a) @ ((hi - lo) / 2)

    for k in range(len(x)):
        lo, hi = (x[k] - eps).clamp(0, 1).numpy(), (x[k] + eps).clamp(0, 1).numpy()
        lines: list[np.ndarray] = []
        for i in range(len(ws) - 1):
            eye = np.eye(ws[i].shape[0])
            low, up = backward(eye, i, lines, lo, hi), -backward(-eye, i, lines, lo, hi)
            lines.append(
                np.array([_published_tanh_lines(a, b) for a, b in zip(low, up, strict=True)]).T
            )
        spec = margin_matrix(labels[k : k + 1], 4)[0].numpy()
        ours = backward(spec, len(ws) - 1, lines, lo, hi)
        assert np.allclose(ours, alone[k], rtol=0, atol=1e-9), (k, ours - alone[k])
    assert (both >= alone - 1e-12).all()


def test_tanh_lines_are_sound_on_extreme_and_random_intervals() -> None:
    """CROWN's lines and every alpha-CROWN line in its free range (t anywhere in [0, 1])
    bound tanh on over a million points: dense grids over random intervals of every scale
    and over extreme ones (very wide, nearly points, deep in the saturated tails)."""
    extreme = [(-20, 1e-3), (-1e-9, 1e-9), (5, 30), (-30, -5), (-1e-3, 20), (-20, 20)]
    extreme += [(-1e-12, 5), (-5, 1e-12), (0, 1e-9), (-1e-9, 0), (-0.5, 30), (-30, 0.5)]
    gen = torch.Generator().manual_seed(5)
    centre = torch.randn(2500, generator=gen, dtype=torch.float64) * 4
    half = 10 ** (torch.rand(2500, generator=gen, dtype=torch.float64) * 12 - 10)  # 1e-10 .. 100
    lb = torch.cat([torch.tensor([a for a, _ in extreme], dtype=torch.float64), centre - half])
    ub = torch.cat([torch.tensor([b for _, b in extreme], dtype=torch.float64), centre + half])
    grid = torch.linspace(0, 1, 401, dtype=torch.float64)[:, None]
    z = lb + grid * (ub - lb)  # 401 points per interval, ends included
    assert z.numel() > 1_000_000
    f = torch.tanh(z)
    a_lo, b_lo, a_up, b_up = _relaxation("tanh", lb, ub)
    assert (a_lo * z + b_lo <= f + 1e-12).all() and (a_up * z + b_up >= f - 1e-12).all()
    free = _free_lines("tanh", lb[None], ub[None])
    for t in (0.0, 0.3, 1.0, None):  # the ends of the range, inside, and random per neuron
        shape = (1, 1, len(lb))
        tt = (
            torch.rand(shape, generator=gen, dtype=torch.float64)
            if t is None
            else torch.full(shape, t, dtype=torch.float64)
        )
        lines = [v.reshape(-1) for v in _lines("tanh", lb[None], ub[None], free, tt, 1 - tt)]
        s_lo, c_lo, s_up, c_up = lines
        assert (s_lo * z + c_lo <= f + 1e-12).all() and (s_up * z + c_up >= f - 1e-12).all()
    crossing = (lb < 0) & (ub > 0)
    assert int(crossing.sum()) > 100 and int((ub <= 0).sum()) > 100 and int((lb >= 0).sum()) > 100


@pytest.mark.parametrize("norm", ["inf", "2"])
def test_no_point_of_a_dense_grid_beats_any_bound_on_a_two_input_tanh_net(norm: str) -> None:
    """Exhaustive in two dimensions: over a 201 x 201 grid covering the ball (L-inf: the
    box clipped to [0, 1]; L2: the grid points inside the disc), the smallest true margin
    is never below any certificate's bound, for several centres, labels and sizes."""
    net = _net(7, nn.Tanh, 3, d=2, width=12)
    chain = Chain.from_layers(list(net))
    gen = torch.Generator().manual_seed(7)
    x = torch.rand(4, 2, generator=gen, dtype=torch.float64)
    x[0] = torch.tensor([0.0, 1.0])  # a corner: the box clips the ball
    labels = net(x).argmax(1)
    s = torch.linspace(-1, 1, 201, dtype=torch.float64)
    offsets = torch.stack(torch.meshgrid(s, s, indexing="ij"), -1).reshape(-1, 2)
    if norm == "2":
        offsets = offsets[offsets.norm(dim=1) <= 1]
    tight = 0
    for eps in (0.05, 0.25):
        bounds = {name: fn(chain, x, labels, eps, 0.0, 1.0, norm) for name, fn in BOUNDS.items()}
        for k in range(len(x)):
            pts = (x[k] + eps * offsets).clamp(0, 1)
            with torch.no_grad():
                true = _true_margins(net, pts, labels[k].expand(len(pts))).min(dim=0).values
            for name, b in bounds.items():
                assert (true >= b[k] - 1e-9).all(), (name, eps, k, float((b[k] - true).max()))
            tight += int((bounds["crown"][k] > 0).all())
    assert tight > 0  # some image is certified: the bounds are not vacuous
