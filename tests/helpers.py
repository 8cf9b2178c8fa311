"""Shared by the tests: run the CLI in-process and capture what it prints."""

from __future__ import annotations

import pytest

from lilbench.cli import main


def cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of `lilbench ARGS`."""
    with pytest.raises(SystemExit) as exc:
        main(args)
    c = capsys.readouterr()
    return int(exc.value.code or 0), c.out, c.err
