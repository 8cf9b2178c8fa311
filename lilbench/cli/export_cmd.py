"""`lilbench export` (every number as one tidy table, model cards) and `lilbench plot`
(accuracy-vs-eps curves from an exported table or a suite)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from lilbench.cli.common import (
    DataDir,
    RunsDir,
    err,
    out,
    suite_command,
    writable_dir,
    writable_file,
)
from lilbench.errors import ConfigError

SuiteOpt = Annotated[
    Path | None,
    typer.Argument(help="Suite YAML; without it, every record in --runs-dir is exported."),
]


def export(
    suite_path: SuiteOpt = None,
    runs_dir: RunsDir = Path("runs"),
    data_dir: DataDir = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Table to write (default results/<suite>.csv or .parquet).",
            callback=writable_file,
        ),
    ] = None,
    fmt: Annotated[
        Literal["csv", "parquet"],
        typer.Option("--format", help="csv, or parquet (needs pyarrow)."),
    ] = "csv",
    per_example: Annotated[
        bool,
        typer.Option("--per-example", help="One row per test image and point (from the bits)."),
    ] = False,
    per_image: Annotated[
        bool,
        typer.Option(
            "--per-image",
            help="One row per model, image and eps: label, clean correct, which attacks "
            "broke it, the first in the suite's order, its minimal eps (needs a suite).",
        ),
    ] = False,
    cards: Annotated[
        Path | None,
        typer.Option(
            "--cards",
            help="Also write a JSON card per model into this folder.",
            callback=writable_dir,
        ),
    ] = None,
    allow_missing: Annotated[
        bool,
        typer.Option("--allow-missing", help="Write the table even if results are missing."),
    ] = False,
) -> None:
    """Write every attack point as one tidy long table: suite, model, method and its
    parameters, seed, attack and its parameters, eps or step, n, correct, accuracy, its exact
    95% interval over the test images, and the checks. Reads the cache; computes nothing.
    With a suite's results missing it writes nothing and exits 1, unless --allow-missing."""
    from lilbench.results import export as ex

    name = "runs" if suite_path is None else suite_path.stem
    if per_image and per_example:
        raise ConfigError("--per-image and --per-example are two layouts: choose one")
    suffix = "-examples" if per_example else "-per-image" if per_image else ""
    given = output.suffix.lower() if output is not None else ""
    if given in (".csv", ".parquet") and given != f".{fmt}":
        raise ConfigError(
            f"--out {output} names a {given[1:]} file, but --format is {fmt}; "
            f"give --format {given[1:]} or --out with .{fmt}"
        )
    target = output or Path("results") / f"{name}{suffix}.{fmt}"
    columns: tuple[str, ...] = ex.EXAMPLE_COLUMNS if per_example else ex.COLUMNS
    if suite_path is None:
        if per_image:
            raise ConfigError("--per-image needs a suite (its attack order and settings)")
        if cards is not None:
            raise ConfigError("--cards needs a suite (a card names its setting and seed)")
        if not (runs_dir / "attacks").is_dir():
            raise ConfigError(f"{runs_dir} holds no attack records")
        count = ex.write_table(
            ex.runs_rows(runs_dir, per_example=per_example), target, fmt, columns
        )
    else:
        count = _export_suite(
            suite_path, runs_dir, data_dir, target, fmt, columns,
            per_image=per_image, per_example=per_example, cards=cards,
            allow_missing=allow_missing,
        )  # fmt: skip
    out.print(f"{count} rows: {target}")


def plot(
    source: Annotated[
        Path, typer.Argument(help="An exported table (.csv/.parquet) or a suite YAML.")
    ],
    runs_dir: RunsDir = Path("runs"),
    output: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Figure to write (default <source>.png).", callback=writable_file
        ),
    ] = None,
    eps: Annotated[
        float,
        typer.Option("--eps", help="The eps of the clean-vs-robust (Pareto) panel."),
    ] = 0.1,
) -> None:
    """Draw accuracy vs eps (or step size) per setting, mean over seeds, one panel per
    attack, and clean vs robust accuracy at --eps (the Pareto view) when there are several
    settings: from an exported table, without rerunning anything."""
    from lilbench.reports.plot_table import plot_rows, read_rows

    if not source.exists():
        raise ConfigError(f"no such file: {source}")
    if source.is_dir():
        raise ConfigError(f"{source} is a directory; give an exported table or a suite YAML")
    if source.suffix in (".yaml", ".yml"):
        from lilbench.results import export as ex
        from lilbench.results.suite_results import collect_suite
        from lilbench.suites import load_suite

        suite = load_suite(source)
        results, _ = collect_suite(suite, runs_dir=runs_dir)
        rows = [
            {k: "" if v is None else str(v) for k, v in row.items()}
            for row in ex.suite_rows(suite.name, results, runs_dir)
        ]
        title = suite.name
    else:
        rows = read_rows(source)
        title = source.stem
    if not rows and source.suffix in (".yaml", ".yml"):
        raise ConfigError(
            f"{source}: no attack results in {runs_dir} to plot; run "
            f"{suite_command('run', source, runs_dir=runs_dir)} first"
        )
    if not rows:
        raise ConfigError(
            f"{source}: the table has no attack points to plot; write one with "
            "`lilbench export SUITE --out TABLE.csv` after the suite has run"
        )
    target = output or source.with_suffix(".png")
    plot_rows(rows, target, title=title, pareto_eps=eps)
    out.print(f"figure: {target}")


def _export_suite(
    suite_path: Path,
    runs_dir: Path,
    data_dir: Path | None,
    target: Path,
    fmt: str,
    columns: tuple[str, ...],
    *,
    per_image: bool,
    per_example: bool,
    cards: Path | None,
    allow_missing: bool,
) -> int:
    """A suite's table (and cards): the rows written, or exit 1 where results are missing."""
    from lilbench.results import export as ex
    from lilbench.results.suite_results import collect_suite
    from lilbench.suites import load_suite

    suite = load_suite(suite_path)
    fix = suite_command("run", suite_path, runs_dir=runs_dir, force=True)
    results, missing = collect_suite(suite, runs_dir=runs_dir, fix=fix)
    if missing:
        err.print(
            f"[yellow]missing {len(missing)} result(s)[/]: {', '.join(missing)} "
            f"(run {suite_command('run', suite_path, runs_dir=runs_dir)})",
            soft_wrap=True,
        )
        if not allow_missing:
            kept = f"{target} left as it is" if target.exists() else f"{target} not written"
            err.print(
                f"[red]no table written[/] ({kept}); --allow-missing exports what is cached",
                soft_wrap=True,
            )
            raise typer.Exit(1)
    if per_image:
        from lilbench.results.per_image import per_image_columns, per_image_rows

        order = [spec.label for spec in suite.attacks]
        columns = per_image_columns(results, order)
        rows = per_image_rows(suite.name, results, order, runs_dir=runs_dir, data_dir=data_dir)
    else:
        rows = ex.suite_rows(suite.name, results, runs_dir, per_example=per_example)
    count = ex.write_table(rows, target, fmt, columns)
    if cards is not None:
        written = ex.write_cards(results, suite.name, cards)
        err.print(f"{len(written)} model cards in {cards}")
    return count
