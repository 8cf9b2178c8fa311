"""Bad input gets one line and exit 2 before any compute; poisoned values never reach a result."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import cli

from lilbench.suites import load_suite


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("name: x\nbetas: [0]\nbetas: [1]\n", "line 3 (duplicate key 'betas')"),
        ("name: ../../x\nbetas: [0]\n", "name: must be a file name"),
        ("name: x\nbetas: [.nan]\n", "betas: expected finite numbers"),
        ("name: x\nbetas: [.inf]\n", "betas: expected finite numbers"),
        ("name: x\nbetas: [0]\ntest_limit: true\n", "test_limit: expected a positive integer"),
        ("name: x\nbetas: [0]\ntrain: {lr: fast}\n", "train.lr: expected a number"),
        ("name: x\nbetas: [0]\ntrain: {epochs: 1.5}\n", "train.epochs: expected an integer"),
        ("name: x\nbetas: [0]\ntrain: {hierarchy: 1}\n", "train.hierarchy: expected true or false"),
    ],
)
def test_bad_suites_exit_2_with_one_line(
    text: str, says: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    suite = tmp_path / "s.yaml"
    suite.write_text(text)
    code, _, err = cli(["run", str(suite), "--runs-dir", str(tmp_path / "runs")], capsys)
    assert code == 2 and says in " ".join(err.split()), err
    assert len(err.strip().splitlines()) <= 2 and "Traceback" not in err
    assert not (tmp_path / "runs").exists()


def test_yaml_floats_without_a_dot_are_numbers(tmp_path: Path) -> None:
    suite = tmp_path / "s.yaml"
    suite.write_text("name: x\nbetas: [0, 1e-3]\ntrain: {lr: 1e-3, epochs: 1}\n")
    s = load_suite(suite)
    assert s.betas == (0.0, 0.001) and s.train["lr"] == pytest.approx(1e-3)


def test_suite_paths_that_are_not_yaml_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = cli(["run", str(tmp_path)], capsys)
    assert code == 2 and "is a directory" in err
    binary = tmp_path / "b.yaml"
    binary.write_bytes(bytes(range(256)))
    code, _, err = cli(["run", str(binary)], capsys)
    assert code == 2 and "not a text file" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--beta", "nan"], "error: beta must be a finite number, got nan"),
        (["--beta", "inf"], "error: beta must be a finite number, got inf"),
        (["--alpha", "nan"], "error: alpha must be a finite number, got nan"),
        (["--k", "nan"], "error: k must be a finite number, got nan"),
        (["--lr", "inf"], "error: lr must be a finite number, got inf"),
        (
            ["--objective", "pgd-at", "--eps", "nan"],
            "error: pgd-at: eps: Input should be a finite number (got nan)",
        ),
        (
            ["--objective", "trades", "--beta-trades", "inf"],
            "error: trades: beta_trades: Input should be a finite number (got inf)",
        ),
    ],
)
def test_non_finite_options_exit_2(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Refused for being non-finite, naming the option (not for some other reason)."""
    code, _, err = cli(["train", *args, "--runs-dir", str(tmp_path / "runs")], capsys)
    assert code == 2 and err.strip() == message, err
    assert not (tmp_path / "runs").exists()


def test_paths_that_cannot_be_directories_fail_before_training(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a_file = tmp_path / "f"
    a_file.write_text("")
    for option in ("--runs-dir", "--data-dir"):
        code, _, err = cli(["train", "--train-limit", "100", option, str(a_file / "x")], capsys)
        assert code == 2 and "is a file, not a directory" in err, err
    code, _, err = cli(["report", "suites/ci.yaml", "--out-dir", str(a_file)], capsys)
    assert code == 2 and "is a file, not a directory" in err


def test_divergence_is_flagged_and_json_is_strict(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["train", "--lr", "10", "--train-limit", "1000", "--epochs", "1", "--json"]
    code, out, _ = cli([*args, "--runs-dir", str(tmp_path)], capsys)
    assert code == 0
    info = json.loads(out, parse_constant=lambda c: pytest.fail(f"not strict JSON: {c}"))
    assert info["metrics"]["diverged"] is True
    code, out, _ = cli([*args[:2], "0.001", *args[3:], "--runs-dir", str(tmp_path)], capsys)
    assert json.loads(out)["metrics"]["diverged"] is False


def test_checkpoint_without_metadata_is_refused_not_guessed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Flipped weight bytes and no meta.json: refused, so no record is ever keyed by a guess."""
    src = Path(__file__).resolve().parent / "fixtures" / "old-runs" / "models"
    ckpt = next(src.iterdir())
    bad = tmp_path / "models" / ckpt.name
    bad.mkdir(parents=True)
    data = bytearray((ckpt / "model.safetensors").read_bytes())
    data[-100] ^= 0xFF  # tensor bytes, not the header
    (bad / "model.safetensors").write_bytes(bytes(data))
    args = ["attack", "fgsm", "--checkpoint", str(bad), "--runs-dir", str(tmp_path)]
    code, _, err = cli([*args, "--eps", "0.1", "--test-limit", "20"], capsys)
    assert code == 2 and "has no meta.json" in " ".join(err.split())
    assert not (tmp_path / "attacks").exists()
