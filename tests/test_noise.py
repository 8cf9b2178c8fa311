"""Random noise and MNIST-C's corruptions: known answers for each corruption and noise, the
records' checks, and a suite end to end (records reused, report section, bad input)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import cli

from lilbench.data import Dataset
from lilbench.data.corruptions import CORRUPTION_SETS, set_for
from lilbench.data.corruptions import corrupt as corrupt_images
from lilbench.data.corruptions.mnist_c import _stroke
from lilbench.data.noise import NOISE_KINDS, CorruptionSpec, NoiseSpec, noisy
from lilbench.errors import ConfigError
from lilbench.results.perturbation_records import corruption_values, noise_values


def _digits(n: int, seed: int = 0) -> np.ndarray:
    """Digit-like 28x28 images: a random stroke of 3-5 points through the middle."""
    rng = np.random.default_rng(seed)
    out = np.zeros((n, 784), dtype=np.float32)
    for i in range(n):
        pts = rng.uniform(6, 21, size=(int(rng.integers(3, 6)), 2))
        out[i] = _stroke((28, 28), pts, 2.5).reshape(-1)
    return out


X = _digits(12)
MNIST_C = CORRUPTION_SETS.get("mnist-c").names


def corrupt(x: np.ndarray, name: str, **kw: object) -> np.ndarray:
    return corrupt_images(x, name, shape=(1, 28, 28), **kw)  # type: ignore[arg-type]


def test_mnist_c_has_its_15_corruptions_registered() -> None:
    assert len(MNIST_C) == 15 and MNIST_C[0] == "shot-noise" and MNIST_C[-1] == "canny-edges"
    assert set_for(1).name == "mnist-c"
    with pytest.raises(ConfigError, match="no corruption set applies to 5-channel"):
        set_for(5)


@pytest.mark.parametrize("name", MNIST_C)
def test_corruption_known_answers(name: str) -> None:
    once = corrupt(X, name, seed=3)
    # deterministic per seed, and an image's corruption does not depend on its batch
    assert np.array_equal(once, corrupt(X, name, seed=3))
    alone = np.concatenate([corrupt(X[i : i + 1], name, seed=3, first_index=i) for i in range(4)])
    assert np.array_equal(alone, once[:4])
    # the input's shape, in [0, 1], the input untouched
    assert once.shape == X.shape and once.dtype == np.float32
    assert once.min() >= 0 and once.max() <= 1
    assert np.array_equal(X, _digits(12))
    # severity 0 is the identity; a larger severity moves the images further
    assert np.array_equal(corrupt(X, name, seed=3, severity=0.0), X)
    dist = [float(np.linalg.norm(corrupt(X, name, seed=3, severity=s) - X)) for s in (0.3, 0.6, 1)]
    assert 0 < dist[0] < dist[1] < dist[2], dist


def test_corruptions_refuse_bad_input_in_one_line() -> None:
    with pytest.raises(ConfigError, match="did you mean 'rotate'"):
        corrupt(X, "rotat", seed=0)
    with pytest.raises(ConfigError, match="severity"):
        corrupt(X, "fog", seed=0, severity=-1)
    with pytest.raises(ConfigError, match="1x28x28"):
        corrupt(X[:, :100], "fog", seed=0)
    with pytest.raises(ConfigError, match="1 channel"):
        corrupt_images(X, "fog", seed=0, shape=(3, 28, 28))


@pytest.mark.parametrize("kind", NOISE_KINDS)
def test_noise_known_answers(kind: str) -> None:
    assert np.array_equal(noisy(X, kind, 0.0, seed=0, draw=0), X)
    a = noisy(X, kind, 0.3, seed=0, draw=0)
    assert np.array_equal(a, noisy(X, kind, 0.3, seed=0, draw=0))
    assert not np.array_equal(a, noisy(X, kind, 0.3, seed=0, draw=1))
    assert np.array_equal(noisy(X[5:7], kind, 0.3, seed=0, draw=0, first_index=5), a[5:7])
    assert a.min() >= 0 and a.max() <= 1
    d = a.astype(np.float64) - X
    if kind == "uniform-linf":
        assert np.abs(d).max() <= 0.3 + 1e-6
    if kind == "uniform-l2":
        assert np.linalg.norm(d, axis=1).max() <= 0.3 + 1e-6


def _dataset(x: np.ndarray, y: np.ndarray) -> Dataset:
    t = torch.from_numpy
    return Dataset("tiny", t(x), t(y), t(x), t(y), 10, "0" * 64, pixels=True, shape=(1, 28, 28))


class _Constant(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = torch.zeros(len(x), 10)
        logits[:, 3] = 1.0
        return logits


class _Threshold(torch.nn.Module):
    """Class 1 when the image is bright on average, else 0: noise and corruptions move it."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bright = (x.mean(1) > 0.08).float()
        return torch.stack([1 - bright, bright, *([torch.zeros(len(x))] * 8)], 1)


def test_a_model_that_ignores_its_input_scores_the_same_under_everything() -> None:
    y = np.array([3, 1, 3, 0, 3, 3, 2, 3, 3, 9, 3, 3])
    data = _dataset(X, y)
    noise = noise_values(_Constant(), data, NoiseSpec(), limit=None, seed=0)
    corr = corruption_values(_Constant(), data, CorruptionSpec.from_value(True), limit=None, seed=0)
    clean = float((y == 3).mean())
    assert noise["clean_accuracy"] == corr["clean_accuracy"] == clean
    assert {p["accuracy_mean"] for p in noise["points"]} == {clean}
    assert {p["accuracy_all"] for p in noise["points"]} == {clean}
    assert {p["accuracy"] for p in corr["points"]} == {clean}
    assert len(corr["points"]) == 15
    assert all(c["passed"] for c in noise["checks"] + corr["checks"])


def test_zero_noise_gives_clean_accuracy_exactly_and_the_checks_can_fail() -> None:
    x = _digits(300, seed=1)
    y = (x.mean(1) > 0.08).astype(np.int64)
    model = _Threshold()
    spec = NoiseSpec(levels=(("gaussian", (0.0, 0.2, 0.5)),), draws=2)
    values = noise_values(model, _dataset(x, y), spec, limit=None, seed=0)
    assert values["clean_accuracy"] == 1.0
    at = {p["level"]: p for p in values["points"]}
    assert at[0.0]["accuracy_mean"] == at[0.0]["accuracy_all"] == values["clean_accuracy"]
    assert at[0.5]["accuracy_mean"] < 1.0  # noise brightens dark images: the model errs
    assert all(c["passed"] for c in values["checks"])
    # labels made to match the *noisy* images: accuracy rises with sigma, the check says so
    flipped = noise_values(model, _dataset(x, 1 - y), spec, limit=None, seed=0)
    falls = {c["name"]: c for c in flipped["checks"]}["falls with the level"]
    assert not falls["passed"] and "ROSE" in falls["detail"]


def test_noise_and_corruption_blocks_validate_in_one_line() -> None:
    spec = NoiseSpec.from_value({"gaussian": [0.5, 0.1], "draws": 2})
    assert spec.points() == [("gaussian", 0.1), ("gaussian", 0.5)] and spec.draws == 2
    assert CorruptionSpec.from_value(True).names == MNIST_C
    assert CorruptionSpec.from_value(True).params() == {"names": list(MNIST_C), "severity": 1.0}
    with pytest.raises(ConfigError, match="apply to 1-channel images; this data set's have 3"):
        CorruptionSpec.from_value({"set": "mnist-c"}, channels=3)
    with pytest.raises(ConfigError, match="unknown corruption set 'mnist'"):
        CorruptionSpec.from_value({"set": "mnist"})
    for bad, needle in (
        ({"gausian": [0.1]}, "unknown key"),
        ({"draws": 0}, "draws"),
        ({"uniform-linf": [2]}, "[0, 1]"),
        ({"gaussian": [-0.1]}, ">= 0"),
    ):
        with pytest.raises(ConfigError, match=needle):
            NoiseSpec.from_value(bad)
    with pytest.raises(ConfigError, match="did you mean"):
        CorruptionSpec.from_value({"names": ["zig-zag"]})


SUITE = """
name: nz
dataset: mnist
train: {{epochs: 1, limit: 1000}}
betas: [0, 1]
seeds: [0, 1]
test_limit: 200
noise: {{gaussian: [0.1, 0.3], uniform-l2: [1], draws: 2}}
corruptions: {corruptions}
attacks:
  - name: fgsm
    eps: [0.1]
"""


def test_a_suite_with_noise_and_corruptions_end_to_end(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from lilbench.results.suite_results import collect_suite
    from lilbench.suites import load_suite

    path = tmp_path / "nz.yaml"
    path.write_text(SUITE.format(corruptions="{names: [rotate, fog, canny-edges]}"))
    runs = tmp_path / "runs"
    code, _, err = cli(["run", str(path), "--runs-dir", str(runs)], capsys)
    assert code == 0, err
    assert len(list((runs / "diagnostics").glob("*/noise-*.json"))) == 4
    assert len(list((runs / "diagnostics").glob("*/corruptions-*.json"))) == 4
    results, missing = collect_suite(load_suite(path), runs_dir=runs)
    assert missing == []
    assert all(r.perturbed is not None and r.perturbed.noise for r in results)

    out = tmp_path / "out"
    code, _, err = cli(
        ["report", str(path), "--runs-dir", str(runs), "--out-dir", str(out)], capsys
    )
    assert code == 0, err
    text = (out / "nz.md").read_text()
    assert "## Random noise and common corruptions" in text
    assert (
        "| beta | seeds | clean | Gaussian sigma 0.1 | Gaussian sigma 0.3 | uniform L2 1 |" in text
    )
    assert "| beta | seeds | clean | mean | rotate | fog | canny-edges |" in text
    assert "every noise and corruption check passed on all 4 models" in text
    assert (out / "nz-corruptions.png").stat().st_size > 1000
    # rewritten from the same records: identical, and no checkpoint loaded

    def no_weights(*_: object, **__: object) -> None:
        raise AssertionError("a report from cached records loaded a checkpoint")

    monkeypatch.setattr("lilbench.results.diagnostic_records.load_model", no_weights)
    again = tmp_path / "again"
    code, _, err = cli(
        ["report", str(path), "--runs-dir", str(runs), "--out-dir", str(again)], capsys
    )
    assert code == 0, err
    assert (again / "nz.md").read_text() == text
    # an unknown corruption: one line, exit 2, nothing computed
    path.write_text(SUITE.format(corruptions="{names: [rotat]}"))
    code, out_text, err = cli(["run", str(path), "--runs-dir", str(tmp_path / "r2")], capsys)
    assert code == 2 and out_text == "" and len(err.strip().splitlines()) == 1
    assert "did you mean 'rotate'" in err and not (tmp_path / "r2").exists()


def test_a_colour_set_sees_height_width_channels_and_is_registered_by_one_file() -> None:
    """A set for colour images receives (H, W, C) images and its output goes back to rows of
    (C, H, W); registering it is all a new set needs."""
    from lilbench.data.corruptions import CorruptionSet, register_set

    cset = register_set(CorruptionSet("test-rgb", "Test-RGB", 3, "none", "made up"))
    seen: list[tuple[int, ...]] = []

    @cset.corruption("swap-red-blue")
    def swap(x: np.ndarray, rng: np.random.Generator, severity: float) -> np.ndarray:
        seen.append(x.shape)
        return x[..., ::-1] if severity else x

    try:
        rows = np.random.default_rng(0).random((2, 3 * 4 * 5)).astype(np.float32)
        out = corrupt_images(rows, "swap-red-blue", seed=0, shape=(3, 4, 5), set_name="test-rgb")
        assert seen == [(4, 5, 3), (4, 5, 3)]
        assert np.array_equal(out.reshape(2, 3, 4, 5), rows.reshape(2, 3, 4, 5)[:, ::-1])
        assert set_for(3).name == "cifar10-c"  # the first registered for colour images
        spec = CorruptionSpec.from_value({"set": "test-rgb"}, channels=3)
        assert spec.params() == {"set": "test-rgb", "names": ["swap-red-blue"], "severity": 1.0}
    finally:
        CORRUPTION_SETS._items.pop("test-rgb")
