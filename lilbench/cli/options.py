"""Training options, declared once and derived from the objective registry.

`@with_training_options` adds to a command every option that selects a model: the data set,
the objective and the union of all objectives' parameters (from their pydantic models), and
the architecture and optimiser settings. An option whose name the command already uses for
itself (an attack's --eps, --limit, --batch-size) gets the prefix `--train-`.
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

import typer
from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from lilbench.data import dataset_names, user_files
from lilbench.errors import ConfigError
from lilbench.models.families import FAMILIES
from lilbench.objectives import OBJECTIVES
from lilbench.training.config import LIL_KEYS, PRESETS, TrainConfig


@dataclass(frozen=True)
class _Opt:
    name: str  # TrainConfig field, or an objective parameter
    annotation: Any  # the value type; every option defaults to None ("not given")
    help: str
    objectives: tuple[str, ...] = ()  # for objective parameters: who takes it
    flag: bool = False  # a boolean shown as --name/--no-name


def _choice(names: typing.Iterable[str]) -> Any:
    """A type whose values the help lists and the parser checks: Literal["a", "b"]."""
    return typing.Literal[tuple(names)]


def _general() -> list[_Opt]:
    d = TrainConfig()
    return [
        _Opt(
            "dataset",
            str,
            f"Data set: {', '.join(dataset_names())}, or file:PATH (your own: an .npz of "
            f"x_test, y_test[, x_train, y_train], or a folder of class folders); default "
            f"{d.dataset}.",
        ),
        _Opt(
            "preset",
            _choice(PRESETS),
            "Defaults from a named setting; explicit options win. authors: the authors' code "
            "(784-100x5-10 tanh, orthogonal 100 x 100 hidden weights, float64, 5 epochs; "
            "Fashion-MNIST 10); their loss settings are --beta (Iso_coef) and --k.",
        ),
        _Opt("objective", _choice(OBJECTIVES.names()), "Training objective (default lil)."),
        _Opt("model", _choice(FAMILIES.names()), "Model family (default mlp)."),
        _Opt("epochs", int, "Training epochs (default 5; toys 2000)."),
        _Opt("batch_size", int, "Training mini-batch size (default 100; toys: full batch)."),
        _Opt("lr", float, f"Adam learning rate (default {d.lr:g})."),
        _Opt("limit", int, "Train on the first N training images only."),
        # The flag that chose the stacked family before families existed (`--model stacked`).
        _Opt("hierarchy", bool, "Stack one LIL block per label level (torus).", flag=True),
    ]


def _union(owners: list[tuple[str, type[BaseModel]]], what: str) -> list[_Opt]:
    """One option per parameter name over several pydantic parameter models (objectives' or
    model families'); a name shared by several is one option that lists who takes it."""
    found: dict[str, _Opt] = {}
    for owner, params_type in owners:
        for key, field in params_type.model_fields.items():
            if key in found:
                prev = found[key]
                found[key] = _Opt(key, prev.annotation, prev.help, (*prev.objectives, owner))
                continue
            ann = field.annotation
            args = [a for a in typing.get_args(ann) if a is not type(None)]
            base = args[0] if args and typing.get_origin(ann) is not typing.Literal else ann
            text = field.description or ""
            default = (
                ""
                if field.default in (None, PydanticUndefined)
                or base is bool
                or f'"{field.default}"' in text  # its description names it already
                else f" Default {field.default}"
            )
            found[key] = _Opt(key, base, f"{text}{default}", (owner,), flag=base is bool)
    return [
        _Opt(
            o.name,
            o.annotation,
            f"{o.help} ({what}: {', '.join(o.objectives)}).",
            o.objectives,
            o.flag,
        )
        for o in found.values()
    ]


def _model_params() -> list[_Opt]:
    return _union([(n, f.params_type) for n, f in FAMILIES.items()], "model")


def _objective_params() -> list[_Opt]:
    """The union of every objective's parameters; a name shared by two objectives is one
    option (pgd-at's and trades' --eps)."""
    return _union([(n, c.params_type) for n, c in OBJECTIVES.items()], "objective")


def _all_options() -> list[_Opt]:
    return [*_general(), *_model_params(), *_objective_params()]


def _parameter(opt: _Opt, taken: set[str]) -> inspect.Parameter:
    # The training subset is --train-limit everywhere (the test subset is --test-limit).
    py = f"train_{opt.name}" if opt.name in taken or opt.name == "limit" else opt.name
    flag = "--" + py.replace("_", "-")
    decl = f"{flag}/--no-{flag[2:]}" if opt.flag else flag
    option = typer.Option(decl, help=opt.help, show_default=False)
    ann = Annotated[opt.annotation | None, option]  # type: ignore[name-defined]
    return inspect.Parameter(py, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=ann)


def with_training_options(
    func: Callable[..., Any] | None = None, *, reserved: frozenset[str] = frozenset()
) -> Any:
    """Add the training options to a Typer command; `func` receives them as `training`, a
    dict of the options given (option name -> value; None-valued ones left out). Names in
    `reserved` (and the command's own) get the prefix `--train-`."""
    if func is None:
        return functools.partial(with_training_options, reserved=reserved)
    own = [p for p in inspect.signature(func).parameters.values() if p.name != "training"]
    hints = typing.get_type_hints(func, include_extras=True)
    taken = {p.name for p in own} | reserved
    extra = {opt.name: _parameter(opt, taken) for opt in _all_options()}

    @functools.wraps(func)
    def command(**kwargs: Any) -> Any:
        if kwargs.pop("limit", None) is not None:
            raise ConfigError(
                "--limit is ambiguous: --train-limit N trains on the first N training images, "
                "--test-limit N evaluates on the first N test images"
            )
        training = {name: kwargs.pop(p.name) for name, p in extra.items()}
        return func(**kwargs, training={k: v for k, v in training.items() if v is not None})

    # A hidden --limit, only to say which of the two was meant.
    ambiguous = inspect.Parameter(
        "limit",
        inspect.Parameter.KEYWORD_ONLY,
        default=None,
        annotation=Annotated[int | None, typer.Option("--limit", hidden=True)],
    )
    params = [p.replace(annotation=hints[p.name]) for p in own] + list(extra.values())
    params.append(ambiguous)
    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in params}
    return command


def canonical_dataset(name: str) -> str:
    """A registered name as given; a user's data as `file:` and its absolute path."""
    if user_files.is_user_data(name):
        return user_files.named(user_files.user_path(name))
    return name


def train_config(training: dict[str, Any], *, seed: int) -> TrainConfig:
    """The TrainConfig of the options given: a parameter of another objective than the one
    chosen is an error that names who takes it."""
    objective = training.get("objective", "lil")
    cls = OBJECTIVES.get(objective)
    params = {o.name: o for o in _objective_params()}
    model_params = {o.name: o for o in _model_params()}
    general, obj_values = {}, {}
    for key, value in training.items():
        if key in model_params and key not in params:
            general[key] = value  # checked against the chosen family by TrainConfig
        elif key not in params:
            general[key] = value
        elif objective not in params[key].objectives:
            flag = "--" + key.replace("_", "-")
            raise ConfigError(
                f"{flag} is a parameter of {', '.join(params[key].objectives)}, not of "
                f"{objective} (choose with --objective)"
            )
        else:
            obj_values[key] = value
    if cls.name == "lil":
        general.update({k: v for k, v in obj_values.items() if k in LIL_KEYS})
    elif obj_values:
        general["objective_params"] = obj_values
    dataset = canonical_dataset(general.pop("dataset", "mnist"))
    return TrainConfig.for_dataset(dataset, seed=seed, **general).validate()
