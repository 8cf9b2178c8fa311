"""`lilbench claims FILE`: the table of the paper's claims, each with its verdict."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lilbench.cli.common import Json, OutDir, RunsDir, out, print_json

ClaimsArg = Annotated[
    Path,
    typer.Argument(help="Claims file, e.g. suites/paper-claims.yaml."),
]


def claims(
    claims_path: ClaimsArg = Path("suites/paper-claims.yaml"),
    runs_dir: RunsDir = Path("runs"),
    out_dir: OutDir = Path("reports"),
    json_out: Json = False,
) -> None:
    """Write OUT_DIR/<claims file's name>.md (suites/paper-claims.yaml ->
    reports/paper-claims.md): one row per claim of the paper with the evidence under
    the authors' attacks and under the strong protocol, the certified bracket, the settings,
    and a verdict in words, read from the runs directory (trains and attacks nothing). A
    claim whose results are missing says "not run" and the command that runs it."""
    from lilbench.reports.claims import build_claims

    path, rows = build_claims(claims_path, runs_dir=runs_dir, out_dir=out_dir)
    if json_out:
        print_json(
            {
                "report": str(path),
                "verdicts": [r.verdict for r in rows],
                "claims": [r.to_dict() for r in rows],
            }
        )
        return
    for row in rows:
        out.print(f"{row.claim}: {row.verdict}")
    out.print(f"claims: {path}")
