"""Randomized smoothing and Gaussian augmentation: CERTIFY against the closed form of a
linear classifier, the ceiling, seeded per image, the noise drawn in blocks, the SmoothAdv
check failing on an inflated certificate, the CLI's one-line refusals, and the objective."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import cli
from scipy.stats import norm
from torch import nn

from lilbench.certify import smoothing as sm
from lilbench.certify.smoothing import ABSTAIN, SmoothingSpec, lower_confidence, smooth_certify

D = 16


class Halfspace(nn.Module):
    """Class 1 where w . x > b, else 0: the smoothed classifier's top-class probability is
    Phi(|w . x - b| / (sigma ||w||)), so its exact certified radius is the distance to the
    plane, |w . x - b| / ||w||."""

    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.w = torch.randn(D, generator=g, dtype=torch.float64)
        self.b = 0.3
        self.calls: list[int] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls.append(len(x))
        s = x.double() @ self.w - self.b
        return torch.stack([-s, s], 1)

    def distance(self, x: torch.Tensor) -> torch.Tensor:
        return (x.double() @ self.w - self.b).abs() / self.w.norm()


def _images(n: int) -> torch.Tensor:
    return torch.rand(n, D, generator=torch.Generator().manual_seed(1), dtype=torch.float64)


def test_clopper_pearson_equals_scipys_exact_interval() -> None:
    """The one-sided lower bound at alpha is the lower end of scipy's two-sided exact
    (Clopper-Pearson) interval at confidence 1 - 2 alpha."""
    from scipy.stats import binomtest

    for n, k, alpha in [
        (100, 97, 0.001),
        (1000, 612, 0.01),
        (100_000, 99_990, 0.001),
        (50, 1, 0.05),
    ]:
        ref = binomtest(k, n).proportion_ci(confidence_level=1 - 2 * alpha, method="exact").low
        assert math.isclose(lower_confidence(k, n, alpha), ref, rel_tol=1e-9, abs_tol=1e-12)


def test_clopper_pearson_at_its_closed_forms() -> None:
    assert math.isclose(lower_confidence(50, 50, 0.001), 0.001 ** (1 / 50), rel_tol=1e-12)
    assert lower_confidence(0, 50, 0.001) == 0.0
    lows = [lower_confidence(k, 100, 0.01) for k in range(0, 101, 10)]
    assert all(a < b for a, b in itertools.pairwise(lows))
    assert all(lo <= k / 100 for lo, k in zip(lows, range(0, 101, 10), strict=True))
    spec = SmoothingSpec(0.25, n=100_000, alpha=0.001)
    assert math.isclose(spec.ceiling, 0.25 * norm.ppf(0.001**1e-5), rel_tol=1e-12)
    assert 3.7 < spec.ceiling / 0.25 < 3.9  # the "about 3.8 sigma"


def test_certify_recovers_the_halfspaces_exact_radius_from_below() -> None:
    model, x = Halfspace(), _images(30)
    y = (x @ model.w > model.b).long()
    spec = SmoothingSpec(0.5, n0=100, n=20_000, alpha=0.001)
    out = smooth_certify(model, x, y, spec, seed=0, classes=2)
    exact = model.distance(x).numpy()
    certified = [i for i, p in enumerate(out.predictions) if p != ABSTAIN]
    assert len(certified) >= 20
    for i in certified:
        assert out.predictions[i] == int(y[i])  # the smoothed class is the plane's side
        assert out.radii[i] <= exact[i] + 1e-9  # sound (at this n, every image)
        if exact[i] < 0.8 * spec.ceiling:  # below the ceiling, the bound is close
            assert out.radii[i] >= exact[i] - 0.1, (exact[i], out.radii[i])
    assert max(model.calls) <= sm.BLOCK  # n copies never exist at once


def test_counts_are_seeded_per_image_whatever_is_certified_with_it() -> None:
    model, x = Halfspace(), _images(6)
    y = torch.zeros(6, dtype=torch.long)
    spec = SmoothingSpec(1.0, n0=50, n=3000)
    whole = smooth_certify(model, x, y, spec, seed=4, classes=2)
    alone = smooth_certify(model, x[3:4], y[3:4], spec, seed=4, classes=2, first_index=3)
    assert (whole.predictions[3], whole.radii[3]) == (alone.predictions[0], alone.radii[0])
    other = smooth_certify(model, x, y, spec, seed=5, classes=2)
    assert other.radii != whole.radii


def test_the_smoothadv_check_catches_an_inflated_certificate() -> None:
    model, x = Halfspace(), _images(12)
    y = (x @ model.w > model.b).long()
    spec = SmoothingSpec(0.25, n0=50, n=2000, alpha=0.001)
    honest = smooth_certify(model, x, y, spec, seed=0, classes=2)
    checks = {c["name"]: c for c in sm.check(model, x, honest, spec, seed=0, classes=2)}
    assert all(c["passed"] for c in checks.values()), checks
    # radii three times the plane's distance: the attack crosses it within each "radius"
    fake = sm.Smoothed(
        list(honest.predictions),
        [
            3 * float(d) + 0.5 if p != ABSTAIN else 0.0
            for p, d in zip(honest.predictions, model.distance(x), strict=True)
        ],
        list(honest.labels),
    )
    bad = {c["name"]: c for c in sm.check(model, x, fake, spec, seed=0, classes=2)}
    assert not bad["certified images hold under SmoothAdv"]["passed"]
    assert not bad["radii within the ceiling"]["passed"]
    assert bad["certified images hold under SmoothAdv"]["tried"] > 0


def test_abstentions_are_never_certified() -> None:
    class Coin(nn.Module):  # two classes tied: the smoothed classifier must abstain
        def forward(self, v: torch.Tensor) -> torch.Tensor:
            return torch.stack([v[:, 0], 1 - v[:, 0]], 1)

    x = torch.full((4, D), 0.5, dtype=torch.float64)
    out = smooth_certify(
        Coin(), x, torch.zeros(4, dtype=torch.long), SmoothingSpec(1.0, n=500), seed=0, classes=2
    )
    assert out.abstained == 4 and out.certified(0.0) == 0 and out.average_radius == 0.0


def test_gaussian_aug_objective_labels_and_trains_on_unclipped_noise() -> None:
    from lilbench.objectives import OBJECTIVES
    from lilbench.training.config import TrainConfig

    cfg = TrainConfig(objective="gaussian-aug", objective_params={"sigma": 0.5}).validate()
    assert cfg.label() == "gaussian-aug sigma=0.5"
    both = TrainConfig(objective="gaussian-aug", objective_params={"sigma": 0.5, "beta": 1.0})
    assert both.label() == "gaussian-aug sigma=0.5 beta=1"
    assert both.make_objective().attack_objective()["mode"] == "local"
    seen: list[torch.Tensor] = []

    class Probe(nn.Module):
        def levels(self, v: torch.Tensor) -> list:  # type: ignore[type-arg]
            from lilbench.models.family import LevelOutput

            seen.append(v.detach().clone())
            return [LevelOutput(torch.zeros(len(v), 2, requires_grad=True), v[:, :3], v)]

    objective = OBJECTIVES.get("gaussian-aug").from_dict({"sigma": 0.5})
    torch.manual_seed(0)
    x = torch.full((64, 8), 0.95)
    parts = objective.loss(Probe(), x, torch.zeros(64, 1, dtype=torch.long))
    assert set(parts) == {"total", "ce", "iso"}
    noise = seen[0] - x
    assert seen[0].max() > 1.0  # not clipped to [0, 1]
    assert abs(float(noise.std()) - 0.5) < 0.05 and abs(float(noise.mean())) < 0.05


def test_smoothing_from_the_cli_checked_cached_and_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    x = np.random.default_rng(0).random((40, 4, 4)).astype(np.float32)
    y = (x.mean((1, 2)) > 0.5).astype(np.int64)
    np.savez(tmp_path / "d.npz", x_train=x, y_train=y, x_test=x[:12], y_test=y[:12])
    runs = tmp_path / "runs"
    data = [
        "--dataset",
        f"file:{tmp_path / 'd.npz'}",
        "--epochs",
        "3",
        "--width",
        "8",
        "--depth",
        "1",
    ]
    base = ["certify", "--method", "smoothing", *data, "--runs-dir", str(runs)]
    for extra, needle in (
        ([], "needs --sigma"),
        (["--sigma", "0.2", "--eps", "0.1"], "give --radii, not --eps"),
        (["--sigma", "-1"], "sigma must lie in (0, 10]"),
        (["--sigma", "0.2", "--method", "smoothing,crown"], "give it alone"),
    ):
        code, _, err = cli([*base, *extra], capsys)
        assert code == 2 and needle in err and len(err.strip().splitlines()) == 1, err
    assert not runs.exists()
    args = [*base, "--sigma", "0.2", "--draws", "400", "--radii", "0,0.1,0.2", "--json"]
    code, out, err = cli(args, capsys)
    assert code == 0, err
    rec = json.loads(out)
    assert rec["kind"] == "smoothing" and rec["passed"] and rec["samples"]["n"] == 12
    assert [p["radius"] for p in rec["points"]] == [0.0, 0.1, 0.2]
    code, out2, err = cli(args, capsys)
    assert code == 0 and json.loads(out2)["radii"] == rec["radii"]
    assert len(list((runs / "smoothing").glob("*/*.json"))) == 1  # served from the cache


SUITE = """\
name: smt
dataset: {file: d.npz}
train: {epochs: 3, width: 16, depth: 1}
methods:
  - objective: lil
    beta: [0, 1]
  - objective: gaussian-aug
    sigma: [0.25]
seeds: [0, 1]
test_limit: 30
smoothing: {sigma: [0.25], n: 600, radii: [0, 0.25]}
attacks:
  - {name: fgsm, eps: [0.1]}
"""


def test_a_suite_smooths_its_models_in_scope_and_reports_acr_changes_with_holm(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = np.random.default_rng(0)
    x = rng.random((200, 4, 4)).astype(np.float32)
    y = (x.mean((1, 2)) > 0.5).astype(np.int64)
    np.savez(tmp_path / "d.npz", x_train=x[:150], y_train=y[:150], x_test=x[150:], y_test=y[150:])
    for bad, needle in (
        ("{sigma: 0.25, n: 0.5}", "smoothing.n: expected an integer"),
        ("{sigma: [], n: 600}", "smoothing.sigma: give one number"),
        ("{sigma: 0.25, draws: 600}", "unknown key"),
    ):
        (tmp_path / "bad.yaml").write_text(
            SUITE.replace("{sigma: [0.25], n: 600, radii: [0, 0.25]}", bad)
        )
        code, _, err = cli(
            ["run", str(tmp_path / "bad.yaml"), "--runs-dir", str(tmp_path / "r")], capsys
        )
        assert code == 2 and needle in err, err
    assert not (tmp_path / "r").exists()
    (tmp_path / "s.yaml").write_text(SUITE)
    runs, out = tmp_path / "r", tmp_path / "out"
    code, _, err = cli(
        ["run", str(tmp_path / "s.yaml"), "--runs-dir", str(runs), "--workers", "1"], capsys
    )
    assert code == 0, err
    assert len(list((runs / "smoothing").glob("*/*.json"))) == 6
    code, _, err = cli(
        ["report", str(tmp_path / "s.yaml"), "--runs-dir", str(runs), "--out-dir", str(out)], capsys
    )
    assert code == 0, err
    text = (out / "smt.md").read_text()
    assert "## Randomized smoothing: certified L2 radii" in text
    assert "no radius above" in text and "### Change in ACR from plain cross-entropy" in text
    assert "Holm over the 2 comparisons" in text
    assert "every smoothing check passed on all 6 records" in text

    # the claims row reads the same comparisons
    (tmp_path / "claims.yaml").write_text(
        "title: t\nclaims:\n  - id: smoothed\n    claim: smoothing a LIL certifies more than "
        "smoothing CE\n    quote: q\n    where: w\n    suites: [s.yaml]\n    evidence: smoothing\n"
    )
    code, out_json, err = cli(
        [
            "claims",
            str(tmp_path / "claims.yaml"),
            "--runs-dir",
            str(runs),
            "--out-dir",
            str(out),
            "--json",
        ],
        capsys,
    )
    assert code == 0, err
    row = json.loads(out_json)["claims"][0]
    assert "ACR change from cross-entropy: beta 1" in json.dumps(row) or "lil beta=1" in json.dumps(
        row
    )
    assert "gaussian-aug sigma=0.25" in json.dumps(row)

    # a scope: some settings, one seed, fewer images; what it names is checked against the suite
    full = "{sigma: [0.25], n: 600, radii: [0, 0.25]}"
    scoped = "{sigma: [0.25], n: 600, radii: [0, 0.25], seeds: [0], test_limit: 20, settings: %s}"
    for names, needle in (
        ("[lil beta=0, gaussian-aug sigma=0.3]", "did you mean 'gaussian-aug sigma=0.25'"),
        ("[lil beta=1]", "leaves out the reference 'lil beta=0'"),
    ):
        (tmp_path / "bad.yaml").write_text(SUITE.replace(full, scoped % names))
        code, _, err = cli(["run", str(tmp_path / "bad.yaml"), "--runs-dir", str(runs)], capsys)
        assert code == 2 and needle in err and len(err.strip().splitlines()) == 1, err
    for bad, needle in (("seeds: [0]", "seeds: [7]"), ("test_limit: 20", "test_limit: 31")):
        (tmp_path / "bad.yaml").write_text(
            SUITE.replace(full, (scoped % "[lil beta=0]").replace(bad, needle))
        )
        code, _, err = cli(["run", str(tmp_path / "bad.yaml"), "--runs-dir", str(runs)], capsys)
        assert code == 2 and ("seed 7 is not" in err or "exceeds" in err), err
    (tmp_path / "p.yaml").write_text(
        SUITE.replace("name: smt", "name: part").replace(
            full, scoped % "[lil beta=0, gaussian-aug sigma=0.25]"
        )
    )
    code, _, err = cli(
        ["run", str(tmp_path / "p.yaml"), "--runs-dir", str(runs), "--workers", "1"], capsys
    )
    assert code == 0, err
    assert len(list((runs / "smoothing").glob("*/*.json"))) == 6 + 2  # 20 images: new records
    code, _, err = cli(
        ["report", str(tmp_path / "p.yaml"), "--runs-dir", str(runs), "--out-dir", str(out)], capsys
    )
    assert code == 0, err
    text = (out / "part.md").read_text()
    section = text[text.index("## Randomized smoothing") :]
    section = section[: section.index("\n## ", 5)] if "\n## " in section[5:] else section
    assert "seed 0; the first 20 test images" in section
    rows = [ln for ln in section.splitlines() if ln.startswith("| lil") or ln.startswith("| gau")]
    assert [r.split(" | ")[0] for r in rows[:2]] == ["| lil beta=0", "| gaussian-aug sigma=0.25"]
    assert "missing" not in section and "lil beta=1" not in section
    assert "every smoothing check passed on all 2 records" in section


def test_noise_drawn_through_the_first_linear_layer_has_the_pixel_noises_distribution() -> None:
    """lilbench's MLPs draw W z as L u (L L^T = W W^T): the class frequencies match those of
    noise drawn in pixel space, to Monte-Carlo error, and the factored path is the one used."""

    class MLP(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            g = torch.Generator().manual_seed(3)
            self.a = nn.Linear(D, 6)
            self.b = nn.Linear(6, 3)
            with torch.no_grad():
                self.a.weight.copy_(torch.randn(6, D, generator=g))
                self.b.weight.copy_(torch.randn(3, 6, generator=g) * 3)

        def layers(self) -> list[nn.Module]:
            return [self.a, nn.Tanh(), self.b]

        def forward(self, v: torch.Tensor) -> torch.Tensor:
            return self.b(torch.tanh(self.a(v)))

    model, x = MLP(), torch.rand(D, generator=torch.Generator().manual_seed(0))
    factored = sm.Noisy(model, x)
    assert factored.chol is not None and factored.chol.shape == (6, 6)
    plain = sm.Noisy(nn.Sequential(model.a, nn.Tanh(), model.b), x)  # no layers(): pixel noise
    assert plain.chol is None
    n = 40_000
    fa = sm.counts(factored, x, n, 0.5, sm.generator(0, 0, "cpu"), 3) / n
    pa = sm.counts(plain, x, n, 0.5, sm.generator(1, 0, "cpu"), 3) / n
    assert np.abs(fa - pa).max() < 5 * np.sqrt(0.25 / n) * 2, (fa, pa)
    assert 0.05 < fa.max() < 0.95  # the noise moves the prediction: the test can tell
