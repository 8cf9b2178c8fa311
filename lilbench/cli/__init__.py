"""The `lilbench` command: a thin Typer layer over the typed functions underneath."""

from __future__ import annotations

import atexit
import contextlib
import difflib
import importlib
import inspect
import logging
import os
import re
import shutil
import sys
from typing import Any

import typer
from rich.markup import escape

# Typer vendors click (typer._click); its types are only needed for annotations here.
from typer import _click as click
from typer.core import TyperCommand, TyperGroup

from lilbench.cli.common import err
from lilbench.errors import LilbenchError

# name -> (module, attribute, one-line help). A command's module (and with it torch, ART and
# matplotlib) is imported only when that command runs, so `lilbench --help` answers at once.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "data": ("lilbench.cli.data", "app", "Prepare data sets (MNIST works offline)."),
    "train": ("lilbench.cli.train", "train", "Train one model or reuse its checkpoint."),
    "attack": ("lilbench.cli.attack", "app", "Attack a model (checked, cached)."),
    "certify": (
        "lilbench.cli.certify_cmd",
        "certify",
        "Certified accuracy (Lipschitz, IBP, CROWN, alpha-CROWN).",
    ),
    "inspect": ("lilbench.cli.inspect_cmd", "inspect", "Representation diagnostics."),
    "run": ("lilbench.cli.suite", "run", "Train and attack every item of a suite."),
    "report": ("lilbench.cli.suite", "report", "Write a suite's report from cached results."),
    "claims": (
        "lilbench.cli.claims_cmd",
        "claims",
        "The paper's claims, each with its verdict, from the runs directory.",
    ),
    "check": ("lilbench.cli.suite", "check", "Compare a suite's accuracies with a baseline."),
    "runs": ("lilbench.cli.runs_cmd", "app", "Inspect and clean a runs directory."),
    "export": ("lilbench.cli.export_cmd", "export", "Every number as one tidy CSV/Parquet table."),
    "plot": ("lilbench.cli.export_cmd", "plot", "Accuracy-vs-eps figures from an exported table."),
}


class LazyGroup(TyperGroup):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_params(self, ctx: click.Context) -> list[click.Parameter]:
        params = super().get_params(ctx)  # --help and --version: flags, shown without a type
        for param in params:
            if getattr(param, "is_flag", False):
                param.display_type_rich = _no_type  # type: ignore[attr-defined]
        return params

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """For listings (help): a stand-in carrying the name and one-line help only."""
        if cmd_name not in COMMANDS:
            return None
        return TyperCommand(cmd_name, help=COMMANDS[cmd_name][2])

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        """To run: the real command, its module imported now."""
        name, _, rest = super().resolve_command(ctx, args)
        return name, None if name is None else _load(name), rest


def _load(name: str) -> click.Command:
    module, attr, _ = COMMANDS[name]
    target = getattr(importlib.import_module(module), attr)
    command: click.Command
    if isinstance(target, typer.Typer):
        command = typer.main.get_group(target)  # a group even with one subcommand (data)
    else:
        single = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
        single.command(name)(target)
        command = typer.main.get_command(single)
    command.name = name
    _tidy(command)
    return command


def _reflow(text: str) -> str:
    """Docstring paragraphs as flowing text (Typer keeps their line breaks, and its own
    wrapping then breaks lines twice); list items and indented lines stay on their own."""
    paragraphs = inspect.cleandoc(text).split("\n\n")
    out = []
    for para in paragraphs:
        lines = para.split("\n")
        keep = any(line.startswith(("- ", "* ", " ", "\b")) for line in lines[1:])
        out.append(para if keep else " ".join(line.strip() for line in lines))
    return "\n\n".join(out)


def _no_type(ctx: click.Context) -> None:
    return None


def _tidy(command: click.Command) -> None:
    """Help that reads well: flags shown without a `<bool>` type, docstrings reflowed."""
    if command.help:
        command._lilbench_plain_help = _reflow(command.help)  # type: ignore[attr-defined]
        command.help = escape(command._lilbench_plain_help)  # type: ignore[attr-defined]
    for param in command.params:
        # Help is rendered as rich markup: "[ray]" would be read as a tag and vanish. The
        # plain layout (narrow terminals) prints text as it is: it gets the unescaped help.
        if getattr(param, "help", None):
            param._lilbench_plain_help = param.help  # type: ignore[attr-defined]
            param.help = escape(param.help)  # type: ignore[attr-defined]
        if getattr(param, "is_flag", False):
            param.display_type_rich = _no_type  # type: ignore[attr-defined]
    # click adds --help when help is rendered, outside `params`: tidy it there too.
    make_help = command.get_help_option

    def help_option(ctx: click.Context) -> Any:
        option: Any = make_help(ctx)
        if option is not None:
            option.display_type_rich = _no_type
        return option

    command.get_help_option = help_option  # type: ignore[method-assign]
    for sub in getattr(command, "commands", {}).values():
        _tidy(sub)


app = typer.Typer(
    name="lilbench",
    help="Train Locally Isometric Layer models and measure their adversarial robustness.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=LazyGroup,
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


# Typer vendors click in recent versions: find its exception base through a public subclass.
_ClickException: type[Exception] = next(
    c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException"
)


class _Notice(logging.Handler):
    """What the library logs at INFO (a migrated record, ...) reaches the user as a line."""

    def emit(self, record: logging.LogRecord) -> None:
        err.print(f"[dim]note:[/] {escape(record.getMessage())}", soft_wrap=True)


def _suggest(message: str) -> str:
    """A choice option's "'x' is not one of 'a', 'b'." gains "did you mean 'b'?"."""
    message = message.replace("Value error, ", "")  # Typer's wording for a Literal's choices
    found = re.search(r"'([^']*)' is not one of (.*)\.$", message)
    if not found:
        return message
    close = difflib.get_close_matches(found[1], re.findall(r"'([^']*)'", found[2]), n=1)
    return f"{message[:-1]}; did you mean {close[0]!r}?" if close else message


NARROW_HELP = 100  # columns below which --help is click's plain layout


def _plain_when_narrow(cls: Any) -> None:
    """Rich's three-column help squeezes the descriptions of commands with long option names
    into a 17-character column at 80 columns; click's plain layout puts a long option's help
    on the next line instead. Below NARROW_HELP columns, --help uses the plain layout."""
    rich_help = cls.format_help

    def format_help(self: Any, ctx: Any, formatter: Any) -> None:
        if shutil.get_terminal_size().columns >= NARROW_HELP:
            return rich_help(self, ctx, formatter)
        saved, self.rich_markup_mode = self.rich_markup_mode, None
        holders = [h for h in (self, *self.params) if hasattr(h, "_lilbench_plain_help")]
        escaped = [h.help for h in holders]
        try:
            for h in holders:
                h.help = h._lilbench_plain_help
            return rich_help(self, ctx, formatter)
        finally:
            self.rich_markup_mode = saved
            for h, text in zip(holders, escaped, strict=True):
                h.help = text

    cls.format_help = format_help


for _cls in (TyperCommand, TyperGroup):
    _plain_when_narrow(_cls)


def main(argv: list[str] | None = None) -> None:
    """Entry point: usage and input errors become one line on stderr and exit code 2. Run
    as the `lilbench` command (no argv), the process ends as soon as its output is flushed:
    every file it wrote is already renamed into place, and the interpreter's teardown of
    torch and the data (most of a second) would only delay the shell."""
    try:
        _main(argv)
    except SystemExit as exc:
        if argv is None:
            _exit_now(exc.code)
        raise


def _exit_now(code: object) -> None:
    if code is not None and not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    # Every registered clean-up still runs (Ray's shutdown, the process pool's joins,
    # logging's flush); only the interpreter's teardown of its modules is skipped.
    atexit._run_exitfuncs()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code or 0)


def _main(argv: list[str] | None) -> None:
    library_log = logging.getLogger("lilbench")
    if not any(isinstance(h, _Notice) for h in library_log.handlers):
        library_log.addHandler(_Notice())
        library_log.setLevel(logging.INFO)
    try:
        from lilbench.plugins import load_plugins

        load_plugins()  # third-party attacks, objectives, ... register before options are read
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
        message = _suggest(message)
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
