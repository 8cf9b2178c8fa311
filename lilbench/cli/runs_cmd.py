"""`lilbench runs list | gc`: what a runs directory holds, and removing its garbage."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from lilbench.cli.common import Json, RunsDir, err, out, print_json

if TYPE_CHECKING:  # reading checkpoints loads torch: only when a command runs
    from lilbench.results.inventory import Entry

app = typer.Typer(help="Inspect and clean a runs directory.", no_args_is_help=True)


def _rows(entries: list[Entry], runs: Path) -> list[dict[str, object]]:
    return [
        {
            "kind": e.kind,
            "path": str(e.path.relative_to(runs)),
            "bytes": e.bytes,
            "status": e.status,
            "detail": e.detail,
        }
        for e in entries
    ]


def _show(entries: list[Entry], runs: Path, title: str) -> None:
    table = Table(title=title)
    for h in ("kind", "path", "size", "status", "detail"):
        # a path is folded, never cut: at 80 columns the malformed file must still be named
        table.add_column(
            h,
            justify="right" if h == "size" else "left",
            overflow="fold" if h == "path" else "ellipsis",
        )
    for e in entries:
        style = None if e.status == "ok" else "yellow"
        size = f"{e.bytes / 1024:.0f} KiB"
        table.add_row(e.kind, str(e.path.relative_to(runs)), size, e.status, e.detail, style=style)
    out.print(table)


@app.command("list")
def list_runs(runs_dir: RunsDir = Path("runs"), json_out: Json = False) -> None:
    """Checkpoints and every record (attacks, model checks, certificates, topology,
    diagnostics) with their sizes and status (ok, orphan, stale, malformed, corrupt,
    leftover); lock files are listed as ok."""
    from lilbench.results.inventory import inventory

    entries = inventory(runs_dir)
    if json_out:
        print_json({"runs_dir": str(runs_dir), "entries": _rows(entries, runs_dir)})
        return
    _show(entries, runs_dir, f"{runs_dir}")
    total = sum(e.bytes for e in entries)
    garbage = [e for e in entries if e.garbage]
    err.print(
        f"{len(entries)} entries, {total / 2**20:.1f} MiB; {len(garbage)} not ok "
        f"(`lilbench runs gc --dry-run` lists what gc would remove)"
    )


@app.command("adopt")
def adopt(runs_dir: RunsDir = Path("runs")) -> None:
    """Mark a runs directory that an earlier lilbench filled (before runs directories carried
    their marker) as lilbench's, so that `runs list` and `runs gc` accept it; nothing in it
    changes. Any lilbench command that stores a result there marks it too."""
    from lilbench.errors import ConfigError
    from lilbench.store import MARKER, MODELS, is_runs_dir, mark_runs_dir

    if is_runs_dir(runs_dir):
        err.print(f"{runs_dir} is already a lilbench runs directory")
        return
    if not (runs_dir / MODELS).is_dir():
        raise ConfigError(
            f"{runs_dir} has no {MODELS}/ folder: it does not look like a runs directory "
            "lilbench filled; nothing marked"
        )
    mark_runs_dir(runs_dir)
    err.print(f"{runs_dir}: {MARKER} written")


@app.command("gc")
def gc(
    runs_dir: RunsDir = Path("runs"),
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List what would be removed; remove nothing.")
    ] = False,
    json_out: Json = False,
) -> None:
    """Remove orphan and stale records of every kind, malformed files, interrupted writes and
    idle locks (a corrupt checkpoint is reported by `runs list`, never removed)."""
    from lilbench.results.inventory import collect_garbage

    removed = collect_garbage(runs_dir, dry_run=dry_run)
    if json_out:
        print_json({"dry_run": dry_run, "removed": _rows(removed, runs_dir)})
        return
    if removed:
        _show(removed, runs_dir, "would remove" if dry_run else "removed")
    verb = "would free" if dry_run else "freed"
    err.print(f"{len(removed)} entries, {verb} {sum(e.bytes for e in removed) / 2**20:.2f} MiB")
