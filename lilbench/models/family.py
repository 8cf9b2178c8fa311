"""Model families as plugins: one declaration each, registered by name, with typed parameters.

A family declares its parameters (a pydantic model: validated once, the source of the CLI
options, the suite keys and the config hash), how to build its module for a data set, how to
rebuild it from a checkpoint's architecture, and what the trainers, attacks and certificates
may assume of it (`batchable`, `certify_refusal`). Declarations are torch-free, so that
`lilbench --help` lists their options without loading torch; `build` and `from_architecture`
import the module's code when a model is made.

Every module the families build offers (checked where it is used, not as a type): logits
from `forward`, phi (where L_iso
acts) from `features`, both at once from `forward_with_features`, one `LevelOutput` per label
level from `levels` (one level unless the model is stacked), the modules `forward` applies in
order from `layers` (what certificates bound), and `spec` (the architecture checkpoints store).
"""

from __future__ import annotations

import typing
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict

from lilbench.errors import ConfigError
from lilbench.params import known_keys, parse_params
from lilbench.registry import Registry

if TYPE_CHECKING:
    import torch
    from torch import nn


class ModelParams(BaseModel):
    """Base of every family's parameters: immutable, no unknown keys, finite floats."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False, strict=True)


@dataclass
class LevelOutput:
    logits: torch.Tensor
    phi: torch.Tensor  # the representation L_iso acts on at this level
    inputs: torch.Tensor  # what that representation was computed from (detached when isolated)


@dataclass(frozen=True)
class DataShape:
    """What a family needs to know of its data set to build a model for it."""

    dataset: str
    input_dim: int
    level_classes: tuple[int, ...]  # classes per label level, coarse to fine
    image_shape: tuple[int, ...] | None = None  # (C, H, W) for image data
    mean: tuple[float, ...] | None = None  # per-channel normalisation inside the model
    std: tuple[float, ...] | None = None


class ModelFamily:
    name: ClassVar[str]  # the registry name (`--model`, `model:` in suites)
    params_type: ClassVar[type[ModelParams]]
    architecture: ClassVar[str]  # the `type` a checkpoint's architecture records
    # A flag of the configs written before families existed that chose this family
    # (`hierarchy: true`, `conv: small`): still accepted, and still what the hash holds.
    selected_by: ClassVar[str | None] = None
    # Why `certify` cannot bound this family's models (None: it can).
    certify_refusal: ClassVar[str | None] = None
    # The objectives it can be trained with (None: any).
    objectives: ClassVar[tuple[str, ...] | None] = None

    @classmethod
    def refuses_certificates(cls, params: ModelParams) -> str | None:
        """Why `certify` cannot bound a model of these parameters (None: it can)."""
        return cls.certify_refusal

    @classmethod
    def batchable(cls, params: ModelParams) -> bool:
        """Whether models of these parameters may share one batched training pass (the
        batched trainer is written for the plain MLP)."""
        return False

    @classmethod
    def defaults(cls, given: dict[str, Any]) -> dict[str, Any]:
        """Defaults that depend on other parameters given (a conv preset's head size)."""
        return {}

    @classmethod
    def build(cls, params: ModelParams, data: DataShape) -> nn.Module:
        raise NotImplementedError

    @classmethod
    def from_architecture(cls, arch: dict[str, Any]) -> nn.Module:
        raise NotImplementedError

    @classmethod
    def after_training(cls, model: nn.Module) -> None:
        """Settle what training leaves unsettled (spectral norms' power iterations)."""

    @classmethod
    def legacy_fields(cls, params: ModelParams) -> dict[str, Any] | None:
        """The flat config fields this model had before families existed (the built-in
        families), so that configs keep their hashes; None for a family added since."""
        return None

    @classmethod
    def label_suffix(cls, params: ModelParams) -> str:
        """Appended to the objective's name in labels ("lil+sn beta=1")."""
        return ""

    @classmethod
    def parse(cls, values: dict[str, Any]) -> ModelParams:
        """Validate the family's parameters; a problem is one line naming the key."""

        def explain(e: dict[str, Any], key: str) -> str | None:
            if e["type"] == "extra_forbidden":
                known = known_keys(cls.params_type)
                return f"{key} is not a parameter of model family {cls.name}; known: {known}"
            if e["type"] == "literal_error":
                choices = ", ".join(str(c) for c in _choices(cls, str(e["loc"][0])))
                return f"unknown {key} {e.get('input')!r}; known: {choices}"
            if e["type"] == "greater_than_equal":
                name, bound = key.replace("_", "-"), e.get("ctx", {}).get("ge")
                return f"{name} must be >= {bound}, got {e.get('input')}"
            if e["type"] == "missing":
                # named as the command line and a suite's train: block both spell it
                choices = "|".join(str(c) for c in _choices(cls, key)) or "VALUE"
                flag = key.replace("_", "-")
                return (
                    f"model family {cls.name} needs {key}: give --{flag} {choices} (a suite: "
                    f"train: {{{key}: ...}})"
                )
            return None

        return parse_params(cls.params_type, values, owner=cls.name, explain=explain)


def _choices(cls: type[ModelFamily], key: str) -> tuple[Any, ...]:
    field = cls.params_type.model_fields.get(key)
    if field is None:
        return ()
    ann = field.annotation
    args = [a for a in typing.get_args(ann) if a is not type(None)]
    lit = args[0] if args and typing.get_origin(ann) is not typing.Literal else ann
    return typing.get_args(lit)


FAMILIES: Registry[type[ModelFamily]] = Registry("model family")


def family_of_architecture(kind: str) -> type[ModelFamily]:
    """The family whose checkpoints record architecture `kind`."""
    for _, fam in FAMILIES.items():
        if fam.architecture == kind:
            return fam
    known = ", ".join(f.architecture for _, f in FAMILIES.items())
    raise ConfigError(f"unknown model architecture {kind!r}; known: {known}")
