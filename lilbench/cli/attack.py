"""`lilbench attack fgsm|pgd`: checked, cached ART attacks on a checkpoint."""

from __future__ import annotations

import inspect
import types
import typing
from dataclasses import MISSING, Field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from lilbench.attacks import ATTACKS, AttackSpec
from lilbench.attacks.grids import parse_grid, parse_list
from lilbench.cli.common import (
    RESERVED_OPTIONS,
    CheckpointOpt,
    DataDir,
    Device,
    Force,
    Json,
    ModelOpt,
    RunsDir,
    Seed,
    Strict,
    TestLimit,
    WeightsOpt,
    err,
    import_user_model,
    out,
    print_json,
    resolve_device,
)
from lilbench.cli.options import train_config, with_training_options
from lilbench.cli.train import select_checkpoint
from lilbench.errors import ConfigError
from lilbench.training.config import TrainConfig

if TYPE_CHECKING:  # the compute libraries (torch, ART) load when an attack runs, not for --help
    from lilbench.results.attack_runs import AttackRun
    from lilbench.training.checkpoint import Checkpoint

model_options = with_training_options(reserved=RESERVED_OPTIONS)

app = typer.Typer(help="Attack a model (checked, cached).", no_args_is_help=True)

AttackBatch = Annotated[int, typer.Option("--batch-size", help="Attack batch size.")]
EpsList = Annotated[str | None, typer.Option("--eps", help="Comma-separated eps values.")]
EpsGrid = Annotated[str | None, typer.Option("--eps-grid", help="Log grid START:STOP:NUM.")]


def _eps_values(
    eps: str | None, eps_grid: str | None, default: tuple[float, ...]
) -> tuple[float, ...]:
    if eps is not None and eps_grid is not None:
        raise ConfigError("give --eps or --eps-grid, not both")
    # The radii are checked by the attack's validation, for its norm (L-inf: [0, 1]).
    if eps is not None:
        return parse_list(eps, what="eps", unit=False)
    if eps_grid is not None:
        return parse_grid(eps_grid, what="eps", unit=False)
    return default


def _run_and_show(
    ckpt: Checkpoint,
    spec: AttackSpec,
    *,
    runs_dir: Path,
    data_dir: Path | None,
    limit: int | None,
    seed: int,
    device: str,
    force: bool,
    json_out: bool,
    strict: bool,
) -> None:
    from lilbench.results.attack_runs import ensure_attack, weaker_than_recorded

    dev = resolve_device(device)
    columns = (
        TextColumn(f"[bold]{spec.name}[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("points"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err, disable=json_out, transient=True) as bar:
        task = bar.add_task(spec.name, total=len(spec.points()))
        run = ensure_attack(
            ckpt,
            spec,
            runs_dir=runs_dir,
            data_dir=data_dir,
            limit=limit,
            seed=seed,
            device=dev,
            force=force,
            progress=lambda done, total: bar.update(task, completed=done),
        )
    if json_out:
        print_json(run.record.dump())
    else:
        show_record(run)
        for line in weaker_than_recorded(runs_dir, run):
            err.print(f"[yellow]warning:[/] {escape(line)}", soft_wrap=True)
    if strict and not run.record.passed:
        raise typer.Exit(1)


def show_record(run: AttackRun) -> None:
    rec = run.record
    if run.reused:
        err.print(f"reusing result {run.path} (same checkpoint and parameters; --force reruns)")
    external = rec.checkpoint.external
    if external:
        model = f"{Path(external['file']).name} ({external['kind']})"
    else:
        model = TrainConfig.from_dict(rec.checkpoint.train_config or {}).label()
    title = (
        f"{(rec.label or rec.attack).upper()} on {model} "
        f"({rec.samples.n} test images; clean accuracy {rec.clean.accuracy:.4f})"
    )
    table = Table(title=title)
    sweep = rec.sweep
    table.add_column("eps", justify="right")
    # a step column only where there is a step of its own (FGSM's step is its eps, and
    # AutoAttack's members choose theirs)
    one_step = all(p.step is None or p.step == p.eps for p in rec.points)
    if not one_step:
        table.add_column("step", justify="right")
    table.add_column("robust accuracy", justify="right")
    table.add_column("correct", justify="right")
    for p in rec.points:
        cells = [f"{p.eps:.4g}"]
        if not one_step:
            cells.append(f"{p.step:.4g}")
        cells += [f"{p.accuracy:.4f}", f"{p.correct}/{p.n}"]
        table.add_row(*cells)
    out.print(table)
    checks = Table(title=f"sanity checks (sweep over {sweep})")
    checks.add_column("check")
    checks.add_column("result")
    checks.add_column("detail")
    for c in rec.checks:
        mark = "[green]pass[/]" if c.passed else "[bold red]FAIL[/]"
        style = None if c.passed else "red"
        checks.add_row(c.name, mark, c.detail, style=style)
    out.print(checks)
    out.print(f"record: {run.path}")


def _execute(spec: AttackSpec, o: dict[str, Any]) -> None:
    """The body shared by the attack commands; `o` holds a command's options."""
    if o["test_limit"] is not None and o["test_limit"] < 1:
        raise ConfigError(f"test limit must be >= 1, got {o['test_limit']}")
    training = {k.removeprefix("train_"): v for k, v in (o["training"] or {}).items()}
    if o["checkpoint"] is not None and training:
        raise ConfigError("give --checkpoint or training options to select a model, not both")
    config = train_config(training, seed=o["seed"])
    resolve_device(o["device"])
    if o.get("model") is not None:
        ckpt = _import_model(o, training, config)
    else:
        if o.get("weights") is not None:
            raise ConfigError("--weights goes with --model package.module:factory")
        ckpt = select_checkpoint(
            o["checkpoint"],
            config,
            runs_dir=o["runs_dir"],
            data_dir=o["data_dir"],
            device=o["device"],
            json_out=o["json_out"],
        )
    _run_and_show(
        ckpt,
        spec,
        runs_dir=o["runs_dir"],
        data_dir=o["data_dir"],
        limit=o["test_limit"],
        seed=o["seed"],
        device=o["device"],
        force=o["force"],
        json_out=o["json_out"],
        strict=o["strict"],
    )


def _import_model(o: dict[str, Any], training: dict[str, Any], config: TrainConfig) -> Checkpoint:
    """--model: the user's classifier, imported into the runs directory (once per file)."""
    if o["checkpoint"] is not None or set(training) - {"dataset"}:
        raise ConfigError("--model takes only --dataset from the model options")
    return import_user_model(
        o["model"],
        o.get("weights"),
        config.dataset,
        runs_dir=o["runs_dir"],
        data_dir=o["data_dir"],
        device=o["device"],
        quiet=o["json_out"],
    )


def _common_options(
    eps: EpsList = None,
    eps_grid: EpsGrid = None,
    checkpoint: CheckpointOpt = None,
    model: ModelOpt = None,
    weights: WeightsOpt = None,
    test_limit: TestLimit = None,
    batch_size: AttackBatch = 1000,
    seed: Seed = 0,
    device: Device = "cpu",
    runs_dir: RunsDir = Path("runs"),
    data_dir: DataDir = None,
    force: Force = False,
    strict: Strict = False,
    json_out: Json = False,
    training: dict[str, Any] | None = None,
) -> None:
    """The options every attack command has (its signature is what is used)."""


def _option(name: str, hint: Any, text: str) -> inspect.Parameter:
    """One command-line option --name of type `hint` (a tuple takes a comma-separated list;
    a bool is --name/--no-name), None when not given."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    base = args[0] if typing.get_origin(hint) in (types.UnionType, typing.Union) else hint
    flag = "--" + name.replace("_", "-")
    if base is bool:
        option = typer.Option(f"{flag}/--no-{flag[2:]}", help=text)
    else:
        option = typer.Option(flag, help=text)
        base = base if base in (int, float, str) else str  # tuples: "a,b,c"
    return inspect.Parameter(
        name,
        inspect.Parameter.KEYWORD_ONLY,
        default=None,
        annotation=Annotated[base | None, option],
    )


def _is_tuple(hint: Any) -> bool:
    return typing.get_origin(hint) is tuple or any(
        typing.get_origin(a) is tuple for a in typing.get_args(hint)
    )


def _attack_command(name: str) -> Any:
    """The command of a registered attack: besides the common options, one option per field
    its class declares (help from the field) and per extra it names, so a new attack or field
    needs nothing here."""
    cls = ATTACKS.get(name)
    hints = typing.get_type_hints(cls)
    hidden = {"eps", "batch_size", *cls.command_hidden}
    own = [f for f in fields(cls) if f.name not in hidden]
    tuples = {f.name for f in own if _is_tuple(hints[f.name])}
    resolved = typing.get_type_hints(_common_options, include_extras=True)
    common = [
        p.replace(annotation=resolved[p.name], kind=inspect.Parameter.KEYWORD_ONLY)
        for p in inspect.signature(_common_options).parameters.values()
    ]
    extra = [_option(f.name, hints[f.name], _field_help(cls, f)) for f in own]
    extra += [_option(n, t, text) for n, t, text in cls.command_extras]
    names = [f.name for f in own] + [n for n, _, _ in cls.command_extras]
    what = {f.name: f.metadata.get("what", f.name.replace("_", " ")) for f in own}

    def command(**o: Any) -> None:
        if o["eps"] is not None and o["eps_grid"] is not None:
            raise ConfigError("give --eps or --eps-grid, not both")
        eps = _eps_values(o["eps"], o["eps_grid"], ()) or None
        given: dict[str, Any] = {"batch_size": o["batch_size"]}
        for key in names:
            value = o[key]
            if value is not None:
                given[key] = (
                    parse_list(value, what=what[key], unit=False) if key in tuples else value
                )
        spec = cls.from_command(given, eps=eps, eps_from_grid=o["eps_grid"] is not None)
        _execute(spec, o)

    params = [*common[:-1], *extra, common[-1]]  # `training` last, as the decorator expects
    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in params}
    command.__doc__ = inspect.cleandoc(cls.__doc__ or name)
    return with_training_options(reserved=RESERVED_OPTIONS | set(names))(command)


def _field_help(cls: type[AttackSpec], f: Field[Any]) -> str:
    shown = f.default not in (MISSING, None) and not isinstance(f.default, bool)
    default = f" (default {_shown(f.default)})" if shown else ""
    return f.metadata.get("help", f"{cls.name}: {f.name.replace('_', ' ')}.") + default


def _shown(value: Any) -> str:
    if isinstance(value, tuple) and len(value) > 5:
        return f"{len(value)} values from {value[0]:g} to {value[-1]:g}"
    if isinstance(value, tuple):
        return ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value)
    return str(value)


for _name, _ in ATTACKS.items():
    app.command(_name)(_attack_command(_name))
