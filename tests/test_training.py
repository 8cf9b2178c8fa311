from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import lilbench
from lilbench.data import Dataset
from lilbench.errors import CheckpointError, ConfigError
from lilbench.training.checkpoint import WEIGHTS, read_checkpoint
from lilbench.training.config import TrainConfig
from lilbench.training.pipeline import Trained, ensure_checkpoint
from lilbench.training.train import train

TINY = TrainConfig(beta=1.0, limit=600, epochs=1, width=16, depth=2)


def test_paper_model_reaches_the_paper_accuracy(paper_model: Trained) -> None:
    # The paper's settings at beta = 1 (the prototype measured 0.963).
    assert paper_model.checkpoint.metrics["clean_test_accuracy"] >= 0.95
    assert 0 < paper_model.checkpoint.metrics["test_isometry_error"] < 1


def test_same_seed_gives_identical_weights_and_other_seed_does_not(mnist: Dataset) -> None:
    a = train(TINY, mnist)
    b = train(TINY, mnist)
    c = train(TrainConfig(**{**TINY.to_dict(), "seed": 1}), mnist)
    sa, sb, sc = a.model.state_dict(), b.model.state_dict(), c.model.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert a.metrics["clean_test_accuracy"] == b.metrics["clean_test_accuracy"]
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)


def test_checkpoint_round_trips_to_identical_logits(tmp_path: Path, mnist: Dataset) -> None:
    first = ensure_checkpoint(TINY, runs_dir=tmp_path)
    assert not first.reused
    model = lilbench.load_model(first.checkpoint.path)
    assert not model.training
    again = train(TINY, mnist).model.eval()
    x = mnist.x_test[:256]
    assert torch.equal(model(x), again(x))
    meta = json.loads((first.checkpoint.path / "meta.json").read_text())
    assert meta["config_hash"] == TINY.config_hash()
    assert meta["dataset"]["name"] == "mnist" and len(meta["dataset"]["checksum"]) == 64
    assert {"lilbench", "torch"} <= set(meta["versions"])
    second = ensure_checkpoint(TINY, runs_dir=tmp_path)
    assert second.reused and second.checkpoint.path == first.checkpoint.path
    # Nothing but the final directory is left behind (no scratch directories).
    assert [p.name for p in (tmp_path / "models").iterdir()] == [first.checkpoint.path.name]


def test_config_hash_ignores_float_spelling_and_mode_at_beta_zero() -> None:
    assert TrainConfig(beta=1).config_hash() == TrainConfig(beta=1.0).config_hash()
    assert TrainConfig(beta=0, mode="local").config_hash() == TrainConfig(mode="none").config_hash()
    assert TrainConfig(beta=1).config_hash() != TrainConfig(beta=10).config_hash()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"beta": -1.0}, "beta"),
        ({"mode": "sideways"}, "mode"),
        ({"batch_size": 0}, "batch-size"),
        ({"dataset": "nope"}, "dataset"),
        ({"activation": "gelu"}, "activation"),
    ],
)
def test_bad_config_is_refused(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        TrainConfig(**kwargs).validate()  # type: ignore[arg-type]


def test_corrupt_missing_and_mismatched_checkpoints_raise(
    tmp_path: Path, small_model: Trained
) -> None:
    with pytest.raises(CheckpointError, match="no checkpoint"):
        lilbench.load_model(tmp_path / "nowhere")
    with pytest.raises(CheckpointError, match="size 784, not 3"):
        lilbench.load_model(small_model.checkpoint.path, input_dim=3)
    broken = tmp_path / "broken"
    broken.mkdir()
    src = small_model.checkpoint.path
    (broken / "meta.json").write_text((src / "meta.json").read_text())
    data = bytearray((src / WEIGHTS).read_bytes())
    data[-10] ^= 0xFF  # flip bits inside a tensor
    (broken / WEIGHTS).write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="corrupt"):
        lilbench.load_model(broken)
    (broken / WEIGHTS).write_bytes(b"garbage")
    with pytest.raises(CheckpointError):
        read_checkpoint(broken)
