from __future__ import annotations

import json
from pathlib import Path

import pytest

from lilbench.cli import main


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main(args)
    captured = capsys.readouterr()
    return int(exc.value.code or 0), captured.out, captured.err


@pytest.mark.parametrize(
    "args, needle",
    [
        (["train", "--beta", "-1"], "beta must be >= 0"),
        (["train", "--mode", "sideways"], "unknown mode"),
        (["train", "--dataset", "cifar"], "unknown dataset"),
        (["train", "--batch-size", "0"], "batch-size must be >= 1"),
        (["train", "--batch-size", "many"], "--batch-size"),
        (["train", "--bogus"], "No such option"),
        (["train", "--device", "cuda:7"], "cuda"),
        (["data", "prepare", "cifar"], "unknown dataset"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    args: list[str], needle: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(
        [*args, "--runs-dir", str(tmp_path)] if args[0] == "train" else args, capsys
    )
    assert code == 2
    assert out == ""
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert needle in lines[0]
    assert "Traceback" not in err
    assert not (tmp_path / "models").exists()  # nothing written


def test_train_json_prints_only_json_and_reuses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [
        "train",
        "--beta",
        "1",
        "--train-limit",
        "500",
        "--epochs",
        "1",
        "--width",
        "8",
        "--runs-dir",
        str(tmp_path),
        "--json",
    ]
    code, out, _ = run(args, capsys)
    assert code == 0
    first = json.loads(out)
    assert first["reused"] is False and 0 <= first["metrics"]["clean_test_accuracy"] <= 1
    code, out, _ = run(args, capsys)
    second = json.loads(out)
    assert second["reused"] is True and second["metrics"] == first["metrics"]


def test_corrupt_checkpoint_via_cli_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [
        "train",
        "--train-limit",
        "300",
        "--epochs",
        "1",
        "--width",
        "8",
        "--runs-dir",
        str(tmp_path),
        "--json",
    ]
    code, out, _ = run(args, capsys)
    path = Path(json.loads(out)["checkpoint"]) / "model.safetensors"
    path.write_bytes(b"\x00" * 20)
    code, out, err = run(args, capsys)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "corrupt" in err
