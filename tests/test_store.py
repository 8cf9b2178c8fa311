"""The runs directory's store: results keyed by the weights' tensor hash, checked on load."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import safetensors.torch
import torch
from helpers import cli

from lilbench.errors import CheckpointError
from lilbench.store import tensors_sha256, tensors_sha256_file
from lilbench.training.checkpoint import read_checkpoint

TINY = ["--beta", "1", "--epochs", "1", "--train-limit", "300", "--width", "16", "--depth", "1"]


def _train(runs: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> dict[str, object]:
    code, out, err = cli(["train", *TINY, "--runs-dir", str(runs), "--json", *extra], capsys)
    assert code == 0, err
    return dict(json.loads(out))


def _attack(runs: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str, str]:
    args = ["attack", "fgsm", *TINY, "--test-limit", "40", "--eps", "0.1", "--runs-dir", str(runs)]
    return cli([*args, *extra], capsys)


def test_tensor_hash_sees_tensors_not_header_metadata(tmp_path: Path) -> None:
    state = {"b": torch.zeros(3), "a": torch.arange(6.0).reshape(2, 3)}
    one = tensors_sha256(safetensors.torch.save(state, metadata={"time": "1"}))
    assert one == tensors_sha256(safetensors.torch.save(state, metadata={"time": "2"}))
    assert one != tensors_sha256(safetensors.torch.save({**state, "b": torch.ones(3)}))
    assert one != tensors_sha256(safetensors.torch.save({**state, "a": state["a"].double()}))
    assert one != tensors_sha256(safetensors.torch.save({**state, "a": state["a"].reshape(3, 2)}))
    path = tmp_path / "w.safetensors"
    safetensors.torch.save_file(state, str(path))
    assert tensors_sha256_file(path) == one
    path.write_bytes(path.read_bytes()[:-4])  # truncated: a tensor lies outside the file
    with pytest.raises(CheckpointError, match="not a readable safetensors"):
        tensors_sha256_file(path)


def test_retraining_with_force_keeps_the_tensor_hash_and_every_record(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = tmp_path / "runs"
    first = _train(runs, capsys)
    code, _, err = _attack(runs, capsys)
    assert code == 0, err
    records = sorted(runs.glob("attacks/*/*.json"))
    ckpt_dir = Path(str(first["checkpoint"]))
    meta_first = json.loads((ckpt_dir / "meta.json").read_text())
    second = _train(runs, capsys, "--force")
    assert second["checkpoint"] == first["checkpoint"]
    meta_second = json.loads((ckpt_dir / "meta.json").read_text())
    # The file differs (its header stores the training time); the tensors do not.
    assert meta_second["metrics"]["train_seconds"] != meta_first["metrics"]["train_seconds"]
    assert meta_second["tensors_sha256"] == meta_first["tensors_sha256"]
    code, _, err = _attack(runs, capsys)
    assert code == 0 and "reusing result" in err, err
    assert sorted(runs.glob("attacks/*/*.json")) == records


@pytest.mark.parametrize("content", ["[]", '{"schema": 2}', '{"schema": 1}', "not json"])
def test_malformed_record_is_one_line_naming_the_file_and_force_recomputes(
    content: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = tmp_path / "runs"
    _train(runs, capsys)
    assert _attack(runs, capsys)[0] == 0
    (record,) = runs.glob("attacks/*/*.json")
    good = json.loads(record.read_text())
    record.write_text(content)
    code, _, err = _attack(runs, capsys)
    assert code == 2 and record.name in err and "--force" in err, err
    assert "Traceback" not in err and len(err[err.index("error:") :].strip().splitlines()) == 1
    code, _, err = _attack(runs, capsys, "--force")
    assert code == 0, err
    assert json.loads(record.read_text())["points"] == good["points"]


def test_record_of_other_weights_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = tmp_path / "runs"
    _train(runs, capsys)
    assert _attack(runs, capsys)[0] == 0
    (record,) = runs.glob("attacks/*/*.json")
    rec = json.loads(record.read_text())
    rec["checkpoint"]["tensors_sha256"] = "0" * 64
    record.write_text(json.dumps(rec))
    code, _, err = _attack(runs, capsys)
    assert code == 2 and "computed on other weights" in err, err


def test_checkpoint_whose_metadata_disagrees_with_its_weights_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = tmp_path / "runs"
    ckpt = Path(str(_train(runs, capsys)["checkpoint"]))
    meta_file = ckpt / "meta.json"
    meta = json.loads(meta_file.read_text())
    meta_file.write_text(json.dumps({**meta, "config_hash": "f" * 64}))
    with pytest.raises(CheckpointError, match="disagree on config_hash"):
        read_checkpoint(ckpt)
    meta_file.write_text(json.dumps({**meta, "tensors_sha256": "0" * 64}))
    with pytest.raises(CheckpointError, match="does not hold the tensors"):
        read_checkpoint(ckpt)
    meta_file.write_text(json.dumps(meta))
    weights = ckpt / "model.safetensors"
    blob = bytearray(weights.read_bytes())
    blob[-1] ^= 0xFF  # one flipped bit pattern in the last tensor
    weights.write_bytes(bytes(blob))
    code, _, err = _attack(runs, capsys)
    assert code == 2 and "does not hold the tensors" in err, err
