"""The `lilbench` command: a thin Typer layer over the typed functions underneath."""

from __future__ import annotations

import sys

import typer
from rich.markup import escape

from lilbench.cli import attack as attack_cmd
from lilbench.cli import data as data_cmd
from lilbench.cli import inspect_cmd, runs_cmd
from lilbench.cli import suite as suite_cmd
from lilbench.cli import train as train_cmd
from lilbench.cli.common import err
from lilbench.errors import LilbenchError

app = typer.Typer(
    name="lilbench",
    help="Train Locally Isometric Layer models and measure their adversarial robustness.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        from lilbench import __version__

        print(f"lilbench {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True),
) -> None:
    """Train Locally Isometric Layer models and measure their adversarial robustness."""


app.add_typer(data_cmd.app, name="data")
app.add_typer(attack_cmd.app, name="attack")
app.add_typer(runs_cmd.app, name="runs")
app.command("inspect")(inspect_cmd.inspect)
app.command("run")(suite_cmd.run)
app.command("report")(suite_cmd.report)
app.command("check")(suite_cmd.check)
app.command("train")(train_cmd.train)


# Typer vendors click in recent versions: find its exception base through a public subclass.
_ClickException: type[Exception] = next(
    c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException"
)


def main(argv: list[str] | None = None) -> None:
    """Entry point: usage and input errors become one line on stderr and exit code 2."""
    try:
        rv = app(args=argv, prog_name="lilbench", standalone_mode=False)
    except LilbenchError as exc:
        err.print(f"[bold red]error:[/] {escape(str(exc))}", soft_wrap=True)
        sys.exit(exc.exit_code)
    except _ClickException as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":
            exc.show()  # type: ignore[attr-defined]
            sys.exit(2)
        ctx = getattr(exc, "ctx", None)
        hint = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
        message = exc.format_message()  # type: ignore[attr-defined]
        if ctx is not None and message.startswith("No such command"):
            known = ", ".join(ctx.command.list_commands(ctx))
            message = f"{message.rstrip('.')}; known: {known}."
        err.print(f"[bold red]error:[/] {escape(message + hint)}", soft_wrap=True)
        sys.exit(exc.exit_code)  # type: ignore[attr-defined]
    except (typer.Abort, KeyboardInterrupt):
        err.print("aborted")
        sys.exit(130)
    except Exception as exc:
        if type(exc).__name__ != "Abort":  # click's own Abort (Ctrl-C at a prompt)
            raise
        err.print("aborted")
        sys.exit(130)
    sys.exit(rv if isinstance(rv, int) else 0)
