"""`lilbench run | report | check SUITE`: the suite-level commands."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from lilbench.cli.common import (
    DataDir,
    Force,
    Json,
    OutDir,
    RunsDir,
    SuiteDevice,
    err,
    out,
    print_json,
    resolve_device,
    suite_command,
    writable_file,
)
from lilbench.errors import ConfigError
from lilbench.suites import Suite, load_suite

if TYPE_CHECKING:  # the compute libraries (torch, ART, matplotlib) load when a command runs
    from lilbench.regression.check import CheckOutcome
    from lilbench.reports.markdown import Table as MdTable
    from lilbench.results.suite_results import ModelResult

SuiteArg = Annotated[Path, typer.Argument(help="Suite YAML file, e.g. suites/paper-mnist.yaml.")]
Workers = Annotated[
    int | None,
    typer.Option(
        "--workers",
        help="Items run in parallel: worker processes (local) or Ray tasks; default: one per "
        "core. Results are the same for any number.",
    ),
]
ExecutorOpt = Annotated[
    Literal["local", "ray"],
    typer.Option(
        "--executor",
        help="local (this machine's processes) or ray (pip install 'lilbench[ray]').",
    ),
]
Address = Annotated[
    str | None,
    typer.Option(
        "--address",
        help="A Ray cluster to join (ray://HOST:10001 or auto); every node must see the runs "
        "directory.",
    ),
]
SeedOpt = Annotated[
    int | None, typer.Option("--seed", help="Run only this seed of the suite's seeds.")
]


def _suite(path: Path, seed: int | None) -> Suite:
    suite = load_suite(path)
    if seed is None:
        return suite
    if seed not in suite.seeds:
        raise ConfigError(f"seed {seed} is not in {path}'s seeds {list(suite.seeds)}")
    return Suite(**{**suite.__dict__, "seeds": (seed,)})


def _run(
    suite: Suite,
    runs_dir: Path,
    data_dir: Path | None,
    device: str | None,
    quiet: bool,
    force: bool = False,
    workers: int | None = None,
    executor: str = "local",
    address: str | None = None,
) -> list[ModelResult]:
    from lilbench.results.executors import make_executor
    from lilbench.results.suite_results import check_certifiable, item_count, run_suite
    from lilbench.runtime import cores

    check_certifiable(suite, data_dir)  # one line before the progress bar, workers or training
    dev = resolve_device(device or suite.device)
    if workers is None and executor == "local":
        # One per core, but no more than the suite has models to keep busy; on a GPU one
        # process, which holds the one CUDA context (a context per worker would share cuda:0).
        workers = 1 if dev.type == "cuda" else max(1, min(cores(), _models(suite)))
    # Bad --workers/--address fail here, before the progress bar or any work.
    ex = make_executor(
        executor,
        workers=1 if workers is None else workers,
        address=address,
        auto=workers is None,
        device=str(dev),
        preload=("lilbench.results.suite_results",),  # what every suite item imports
    )
    columns = (
        TextColumn(f"[bold]{suite.name}[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("items"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err, disable=quiet) as bar:
        task = bar.add_task(suite.name, total=item_count(suite))

        def done(what: str, reused: bool) -> None:
            bar.advance(task)
            if not quiet:
                bar.console.print(f"  {'reused' if reused else '[green]done[/]  '} {what}")

        with ex:
            return run_suite(
                suite,
                runs_dir=runs_dir,
                data_dir=data_dir,
                device=dev,
                on_item=done,
                force=force,
                executor=ex,
                preflight=False,
            )


def _models(suite: Suite) -> int:
    return len(suite.settings) * len(suite.seeds)


def run(
    suite_path: SuiteArg,
    seed: SeedOpt = None,
    device: SuiteDevice = None,
    runs_dir: RunsDir = Path("runs"),
    data_dir: DataDir = None,
    force: Force = False,
    workers: Workers = None,
    executor: ExecutorOpt = "local",
    address: Address = None,
    json_out: Json = False,
) -> None:
    """Train (or reuse) every model of a suite and run (or reuse) every attack.

    Models that differ only in the LIL objective's parameters train together in one pass;
    independent items run in parallel (--workers, --executor ray); the runs directory is
    the shared state, so a run that stops continues where it stopped."""
    suite = _suite(suite_path, seed)
    results = _run(suite, runs_dir, data_dir, device, json_out, force, workers, executor, address)
    if json_out:
        print_json({"suite": suite.name, "results": [r.to_dict() for r in results]})
    else:
        failed = sum(1 for r in results for rec in r.attacks.values() if rec and not rec.passed)
        err.print(
            f"{suite.name}: {len(results)} models, {failed} attack run(s) with failed checks;"
            f" {suite_command('report', suite_path, runs_dir=runs_dir, seed=seed)} writes"
            " the report",
            soft_wrap=True,
        )


def _rich(table: MdTable, title: str, width: int) -> list[Table]:
    """The table as rich tables no wider than `width`: when its columns do not fit, they are
    split over several tables, each repeating the first (key) column, as pandas prints wide
    frames, so that no number is ever cut to `0.…`."""
    header, rows = table
    cells = [[c.replace("**", "") for c in row] for row in rows]
    need = [max([len(header[i]), *(len(r[i]) for r in cells)]) + 3 for i in range(len(header))]
    chunks: list[list[int]] = [[]]
    used = need[0] + 1 if need else 0
    for i in range(1, len(header)):
        if chunks[-1] and used + need[i] > width:
            chunks.append([])
            used = need[0] + 1
        chunks[-1].append(i)
        used += need[i]
    out_tables = []
    for n, chunk in enumerate(chunks):
        cols = [0, *chunk] if header else []
        part = f" ({n + 1}/{len(chunks)})" if len(chunks) > 1 else ""
        t = Table(title=title + part)
        for i in cols:
            t.add_column(header[i], justify="right", no_wrap=True)
        for row in cells:
            t.add_row(
                *[row[i] for i in cols], style="red" if any("FAIL" in c for c in row) else None
            )
        out_tables.append(t)
    return out_tables


def report(
    suite_path: SuiteArg,
    seed: SeedOpt = None,
    device: SuiteDevice = None,
    runs_dir: RunsDir = Path("runs"),
    out_dir: OutDir = Path("reports"),
    data_dir: DataDir = None,
    allow_missing: Annotated[
        bool,
        typer.Option("--allow-missing", help="Write the report even if results are missing."),
    ] = False,
    json_out: Json = False,
) -> None:
    """Write reports/<suite>.md and its plots from cached results (trains and attacks nothing;
    representation diagnostics, when the suite asks for them, are computed here). With results
    missing it writes nothing and exits 1, unless --allow-missing."""
    from lilbench.reports.markdown import build_report
    from lilbench.results.suite_results import collect_suite
    from lilbench.runtime import device_name

    suite = _suite(suite_path, seed)
    # Reading needs no GPU: a report of records computed on CUDA can be written anywhere.
    dev = device_name(device or suite.device)
    fix = suite_command("run", suite_path, runs_dir=runs_dir, seed=seed, device=device, force=True)
    results, missing = collect_suite(suite, runs_dir=runs_dir, fix=fix, device=dev)
    if missing:
        err.print(
            f"[yellow]missing {len(missing)} result(s)[/]: {', '.join(missing)} "
            f"(run {fix.replace(' --force', '')})",
            soft_wrap=True,
        )
        if not allow_missing:
            target = out_dir / (suite.name + ".md")
            kept = f"{target} left as it is" if target.exists() else f"{target} not written"
            err.print(
                f"[red]no report written[/] ({kept}); --allow-missing writes one with the "
                "gaps marked",
                soft_wrap=True,
            )
            raise typer.Exit(1)
    path, tables = build_report(suite, results, missing, out_dir, data_dir, runs_dir)
    if json_out:
        print_json(
            {"report": str(path), "missing": missing, "results": [r.to_dict() for r in results]}
        )
        return
    for name, table in tables.items():
        for part in _rich(table, name, out.width):
            out.print(part)
    out.print(f"report: {path}")


def check(
    suite_path: SuiteArg,
    baseline: Annotated[Path, typer.Option("--baseline", help="Baseline JSON.")],
    update: Annotated[bool, typer.Option("--update", help="Write the baseline from now.")] = False,
    tolerance: Annotated[
        float, typer.Option("--tolerance", help="Absolute tolerance written by --update.")
    ] = 0.005,
    junit_xml: Annotated[
        Path | None,
        typer.Option(
            "--junit-xml",
            help="Also write JUnit XML (a test case per metric) for the CI system to show.",
            callback=writable_file,
        ),
    ] = None,
    summary: Annotated[
        Path | None,
        typer.Option(
            "--summary",
            help="Also write the diff as a Markdown table (appended to $GITHUB_STEP_SUMMARY "
            "when that is set, without being asked).",
            callback=writable_file,
        ),
    ] = None,
    strict: Annotated[
        bool,
        typer.Option("--strict", help="A failed sanity check of any record fails the check too."),
    ] = False,
    seed: SeedOpt = None,
    device: SuiteDevice = None,
    runs_dir: RunsDir = Path("runs"),
    data_dir: DataDir = None,
    force: Force = False,
    workers: Workers = None,
    executor: ExecutorOpt = "local",
    address: Address = None,
    json_out: Json = False,
) -> None:
    """Run the suite (or read its cache) and compare every accuracy with the baseline.

    A baseline records what it was measured on (lilbench, torch, ART and numpy versions, the
    processor, the thread count, the suite file's hash); when that differs from now, a note
    above the table says so, and the verdict still rests on the numbers alone."""
    from lilbench.regression import provenance
    from lilbench.regression.baseline import (
        check_baseline_suite,
        check_tolerance,
        load_baseline,
    )
    from lilbench.regression.check import compare_with_baseline, update_baseline, write_outputs

    suite = _suite(suite_path, seed)
    check_tolerance(tolerance)
    base = None if update else load_baseline(baseline)  # fail on a bad baseline before work
    if base is not None:
        check_baseline_suite(base, baseline, suite.name)
    # a line per item on stderr as it goes (a CI log shows progress), nothing with --json
    ran = _run(suite, runs_dir, data_dir, device, json_out, force, workers, executor, address)
    prov = provenance.current(suite_sha256=suite.file_sha256, device=device or suite.device)
    if update:
        said, count = update_baseline(baseline, suite.name, ran, prov, tolerance=tolerance)
        for line in said:
            err.print(f"  {escape(line)}")
        err.print(f"baseline written: {baseline} ({count} metrics)")
        return
    assert base is not None
    outcome = compare_with_baseline(suite.name, baseline, base, ran, prov, strict=strict)
    write_outputs(outcome, junit_xml=junit_xml, summary=summary)
    if json_out:
        print_json(outcome.to_json())
    else:
        _show_check(outcome)
    if not outcome.passed:
        raise typer.Exit(1)


def _show_check(outcome: CheckOutcome) -> None:
    from lilbench.regression import ci_output

    if outcome.notice:
        err.print(f"[yellow]note:[/] {escape(outcome.notice)}", soft_wrap=True)
    t = Table(title=f"{outcome.suite} vs {outcome.baseline}")
    for h in ("metric", "baseline", "now", "delta", "tol", "result"):
        if h == "metric":  # a long name folds onto a second line rather than being cut
            t.add_column(h, justify="left", overflow="fold")
        else:
            t.add_column(h, justify="right", no_wrap=True)
    for r in outcome.rows:
        fmt = lambda v: "missing" if v is None else f"{v:.4f}"  # noqa: E731
        t.add_row(
            r.metric,
            fmt(r.baseline),
            fmt(r.now),
            "-" if r.delta is None else f"{r.delta:+.4f}",
            f"{r.tolerance:g}",
            "[green]pass[/]" if r.passed else "[bold red]FAIL[/]",
        )
    out.print(t)
    for r in outcome.failed:
        missing = ci_output.missing_side(r)
        if missing is not None:
            err.print(f"[red]missing[/]: {r.metric} {missing}", soft_wrap=True)
        else:
            err.print(
                f"[red]{ci_output.kind(r)}[/]: {r.metric} baseline {r.baseline:.4f} "
                f"now {r.now:.4f}",
                soft_wrap=True,
            )
    strict = outcome.strict
    for f in outcome.check_failures:
        label = "[red]failed checks[/]" if strict else "[yellow]failed checks[/] (no --strict)"
        err.print(f"{label}: {f.where}: {escape('; '.join(f.names))}")
    err.print(
        f"{len(outcome.rows) - len(outcome.failed)}/{len(outcome.rows)} metrics within tolerance"
    )
