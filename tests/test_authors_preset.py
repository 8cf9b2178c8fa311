"""`--preset authors`: the authors' network (five tanh layers, orthogonal 100 x 100 hidden
weights, float64), explicit options over the preset, and the float32 cast the attacks see."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from lilbench.cli import main
from lilbench.data import Dataset
from lilbench.errors import ConfigError
from lilbench.models import LILMLP
from lilbench.training.checkpoint import load_model
from lilbench.training.config import TrainConfig
from lilbench.training.train import build_model, seed_everything


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main(args)
    captured = capsys.readouterr()
    return int(exc.value.code or 0), captured.out, captured.err


def _linears(model: LILMLP) -> list[nn.Linear]:
    return [m for m in model.layers() if isinstance(m, nn.Linear)]


def test_cli_trains_a_float64_model_with_five_tanh_layers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["train", "--preset", "authors", "--beta", "0.1", "--k", "10"]
    args += ["--train-limit", "300", "--epochs", "1", "--runs-dir", str(tmp_path), "--json"]
    code, out, err = run(args, capsys)
    assert code == 0, err
    info = json.loads(out)
    ckpt = Path(info["checkpoint"])
    model = load_model(ckpt, keep_dtype=True)
    assert isinstance(model, LILMLP)
    assert sum(isinstance(m, nn.Tanh) for m in model.layers()) == 5
    assert [(lin.in_features, lin.out_features) for lin in _linears(model)] == [
        (784, 100),
        *[(100, 100)] * 4,
        (100, 10),
    ]
    assert {p.dtype for p in model.parameters()} == {torch.float64}
    config = TrainConfig.from_dict(json.loads((ckpt / "meta.json").read_text())["train_config"])
    assert (config.preset, config.beta, config.k, config.epochs) == ("authors", 0.1, 10.0, 1)
    # What the attacks get: the float32 cast, and the metrics that compare the two.
    cast = load_model(ckpt)
    assert {p.dtype for p in cast.parameters()} == {torch.float32}
    assert info["metrics"]["float32_prediction_differences"] >= 0
    assert 0 <= info["metrics"]["float32_clean_test_accuracy"] <= 1


def test_initialisation_is_the_authors(mnist: Dataset) -> None:
    config = TrainConfig.for_dataset("mnist", preset="authors", seed=3).validate()
    seed_everything(3)
    model = build_model(config, mnist)
    assert isinstance(model, LILMLP)
    linears = _linears(model)
    for lin in linears[1:-1]:  # the four 100 x 100 hidden weights: orthogonal
        w = lin.weight.detach()
        assert w.dtype == torch.float64
        assert torch.allclose(w @ w.T, torch.eye(100, dtype=torch.float64), atol=1e-10, rtol=0)
    # The input and class layers: PyTorch's default (the same draws from the same seed, in
    # the construction order of the authors' NN_class), not orthogonal.
    seed_everything(3)
    expected = [nn.Linear(784, 100, dtype=torch.float64)]
    for _ in range(4):
        expected.append(nn.Linear(100, 100, dtype=torch.float64))
        nn.init.orthogonal_(expected[-1].weight)
    expected.append(nn.Linear(100, 10, dtype=torch.float64))
    for got, want in zip(linears, expected, strict=True):
        assert torch.equal(got.weight, want.weight) and torch.equal(got.bias, want.bias)
    first = linears[0].weight.detach()
    assert first.abs().max() <= 1 / 784**0.5  # kaiming-uniform bound of the default
    gram = first @ first.T
    assert not torch.allclose(gram, torch.eye(100, dtype=torch.float64), atol=0.1)
    # Without the preset: float32, PyTorch's default everywhere (earlier models unchanged).
    plain = build_model(TrainConfig().validate(), mnist)
    hidden = _linears(plain)[1].weight.detach()  # type: ignore[arg-type]
    assert hidden.dtype == torch.float32
    assert not torch.allclose(hidden @ hidden.T, torch.eye(100), atol=0.1)


def test_explicit_options_win_and_the_hash_moves_only_when_set() -> None:
    preset = TrainConfig.for_dataset("mnist", preset="authors")
    assert (*(preset.model_params[k] for k in ("depth", "dtype", "init")), preset.epochs) == (
        5,
        "float64",
        "orthogonal",
        5,
    )
    mine = TrainConfig.for_dataset("mnist", preset="authors", depth=3, dtype="float32", epochs=2)
    assert (*(mine.model_params[k] for k in ("depth", "dtype", "init")), mine.epochs) == (
        3,
        "float32",
        "orthogonal",
        2,
    )
    fashion = TrainConfig.for_dataset("fashion-mnist", preset="authors")
    assert fashion.epochs == 10  # their HRIM_FMNIST.py
    assert TrainConfig.for_dataset("fashion-mnist", preset="authors", epochs=3).epochs == 3
    # Every earlier config keeps its hash: the new fields hash only when set.
    assert (
        TrainConfig(beta=1.0).config_hash() == TrainConfig(beta=1.0, dtype="float32").config_hash()
    )
    assert (
        TrainConfig(beta=1.0).config_hash() != TrainConfig(beta=1.0, dtype="float64").config_hash()
    )
    assert preset.config_hash() != TrainConfig(**{**preset.to_dict(), "preset": None}).config_hash()


def test_k_appears_in_the_label_only_when_it_is_not_1() -> None:
    assert TrainConfig(beta=0.1).label() == "lil beta=0.1"
    assert TrainConfig(beta=0.1, k=10).label() == "lil beta=0.1 k=10"


@pytest.mark.parametrize(
    "options, needle",
    [
        ({"preset": "paper"}, "unknown preset 'paper'"),
        ({"dtype": "float16"}, "unknown dtype"),
        ({"init": "xavier"}, "unknown init"),
        ({"preset": "authors", "hierarchy": True}, "not a parameter of model family stacked"),
    ],
)
def test_bad_preset_options_are_refused(options: dict[str, object], needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        TrainConfig.for_dataset("mnist", **options).validate()
