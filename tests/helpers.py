"""Shared by the tests: run the CLI in-process and capture what it prints."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lilbench.cli import main


def cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of `lilbench ARGS`."""
    with pytest.raises(SystemExit) as exc:
        main(args)
    c = capsys.readouterr()
    return int(exc.value.code or 0), c.out, c.err


def assert_every_record_passed(runs: Path, *, model_checks: bool = False) -> int:
    """Every attack record under `runs` (and, with `model_checks`, every model-check record)
    passed every one of its checks; returns how many records were read (never zero)."""
    kinds = ["attacks", "checks"] if model_checks else ["attacks"]
    paths = [p for kind in kinds for p in sorted(runs.glob(f"{kind}/*/*.json"))]
    assert paths, f"no records under {runs}"
    for path in paths:
        rec = json.loads(path.read_text())
        failed = [c["name"] for c in rec["checks"] if not c["passed"]]
        assert rec["passed"] is True and not failed, (str(path), failed)
    return len(paths)
