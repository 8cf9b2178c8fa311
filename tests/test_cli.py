from __future__ import annotations

import json
import os
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
        (["train", "--mode", "sideways"], "'sideways' is not one of 'local', 'global', 'none'"),
        (["train", "--dataset", "cifar"], "did you mean 'cifar10'?"),
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


def test_wide_report_tables_are_split_never_elided() -> None:
    """At 80 columns a 6 x 16 accuracy table is printed in parts that each repeat the key
    column: every number appears whole, none is cut to `0.…`."""
    from rich.console import Console

    from lilbench.cli.suite import _rich

    header = ["beta", *(f"eps={e / 100:.2f}" for e in range(1, 16))]
    rows = [[str(b), *(f"{(b * 16 + i) / 1000:.4f}" for i in range(15))] for b in range(6)]
    console = Console(width=80, record=True, file=open(os.devnull, "w"))  # noqa: SIM115
    parts = _rich((header, rows), "fgsm", 80)
    assert len(parts) > 1
    for part in parts:
        console.print(part)
    text = console.export_text()
    assert "…" not in text
    assert all(cell in text for row in rows for cell in row[1:])
    assert max(len(line) for line in text.splitlines()) <= 80


def _leaf_commands() -> list[tuple[list[str], object]]:
    """(argv prefix, click command built without lilbench's help tidying) of every command."""
    import importlib

    import typer

    from lilbench.cli import COMMANDS

    out: list[tuple[list[str], object]] = []
    for name, (module, attr, _) in COMMANDS.items():
        target = getattr(importlib.import_module(module), attr)
        if isinstance(target, typer.Typer):
            group = typer.main.get_group(target)
            out += [([name, sub], cmd) for sub, cmd in group.commands.items()]
        else:
            single = typer.Typer(add_completion=False)
            single.command(name)(target)
            out.append(([name], typer.main.get_command(single)))
    return out


def test_every_option_help_is_rendered_whole(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """No help text loses what rich would read as markup (`'lilbench[ray]'` printed as
    `'lilbench'`), and no flag shows a `<bool>` type."""
    import typer.rich_utils

    monkeypatch.setattr(typer.rich_utils, "MAX_WIDTH", 4000)  # no wrapping: one line each
    monkeypatch.setenv("COLUMNS", "4000")
    checked = 0
    for argv, command in _leaf_commands():
        code, out, _ = run([*argv, "--help"], capsys)
        assert code == 0, argv
        flat = " ".join(out.split())
        assert "<bool>" not in out, argv
        for param in command.params:  # type: ignore[attr-defined]
            text = getattr(param, "help", None)
            if text:
                assert " ".join(text.split()) in flat, (argv, param.name, text)
                checked += 1
    assert checked > 50
    code, out, _ = run(["--help"], capsys)
    assert code == 0 and "<bool>" not in out


def test_every_commands_help_loads_neither_torch_nor_art() -> None:
    """Issue 48 (and 50): options are parsed, and help is shown, without torch or ART; each
    command's module is loaded as its help is (all of them, in one fresh interpreter)."""
    import subprocess
    import sys

    code = (
        "import sys, contextlib, io\n"
        "from lilbench.cli import COMMANDS, main\n"
        "for name in COMMANDS:\n"
        "    with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "        main([name, '--help'])\n"
        "print(sorted(COMMANDS), 'torch' in sys.modules, 'art' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().endswith("False False"), out.stdout
    assert "attack" in out.stdout and "certify" in out.stdout
