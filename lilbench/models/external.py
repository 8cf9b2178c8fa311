"""Classifiers lilbench did not train: a `torch.export` program (.pt2), a TorchScript module,
or a factory in the user's own code plus a safetensors file of weights.

Nothing is unpickled: torch.export archives and TorchScript files are read by torch's own
loaders (tensors and graph, no pickled Python objects), and factory weights are safetensors.
A model's identity (what its results are keyed by) is the SHA-256 of its file; for a factory,
of its weights' tensors together with the factory's name and the source of its module, so that
an edited factory is a new model.

The model takes the data set's images ((N, 1, 28, 28) for MNIST) or flat vectors ((N, 784));
lilbench finds which by trying both, and wraps it so that attacks see flat vectors in [0, 1].
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from lilbench.errors import ConfigError
from lilbench.models.external_files import sniff_model_file

Kind = Literal["torch.export", "torchscript", "factory"]
FACTORY = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


@dataclass(frozen=True)
class ExternalModel:
    kind: Kind
    file: Path  # the .pt2 / TorchScript file, or the factory's safetensors weights
    factory: str | None = None  # "package.module:function"

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "file": str(self.file), "factory": self.factory}


def parse_model_option(model: str, weights: Path | None) -> ExternalModel:
    """`--model FILE` or `--model package.module:factory --weights FILE`, checked up front."""
    if FACTORY.match(model) and not Path(model).exists():
        if weights is None:
            raise ConfigError(f"--model {model} is a factory: give its weights with --weights")
        if not weights.is_file():
            raise ConfigError(f"--weights {weights}: no such file")
        if weights.suffix != ".safetensors":
            raise ConfigError(f"--weights {weights}: expected a .safetensors file")
        return ExternalModel("factory", weights, model)
    path = Path(model)
    if weights is not None:
        raise ConfigError("--weights goes with --model package.module:factory, not a file")
    if not path.is_file():
        raise ConfigError(
            f"--model {model}: no such file (give a .pt2 from torch.export.save, a TorchScript "
            "file, or package.module:factory with --weights)"
        )
    return ExternalModel(_sniff(path), path)


def _sniff(path: Path) -> Kind:
    return sniff_model_file(path, what="--model")


def identity(model: ExternalModel) -> str:
    """The SHA-256 its results are keyed by."""
    from lilbench.io import sha256_file
    from lilbench.store import tensors_sha256_file

    if model.kind != "factory":
        return sha256_file(model.file)
    source = _factory_source(model.factory or "")
    h = hashlib.sha256()
    for part in ("factory", model.factory or "", source, tensors_sha256_file(model.file)):
        h.update(part.encode() + b"\0")
    return h.hexdigest()


def _factory(name: str) -> Any:
    module_name, _, attr = name.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"--model {name}: cannot import {module_name} ({exc})") from None
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise ConfigError(f"--model {name}: {module_name} has no function {attr}")
    return fn


def _factory_source(name: str) -> str:
    module = inspect.getmodule(_factory(name))
    try:
        return inspect.getsource(module) if module is not None else ""
    except (OSError, TypeError):
        return ""


def load(model: ExternalModel, *, device: torch.device | str = "cpu") -> nn.Module:
    """The user's module (weights loaded, on `device`), as it was given: not yet wrapped."""
    if model.kind == "torch.export":
        try:
            program = torch.export.load(str(model.file))
        except Exception as exc:
            raise ConfigError(
                f"--model {model.file}: torch.export cannot load it ({exc})"
            ) from None
        return Exported(program.module()).to(device)
    if model.kind == "torchscript":
        try:
            with warnings.catch_warnings():  # torch deprecates TorchScript; the user chose it
                warnings.simplefilter("ignore", FutureWarning)
                return torch.jit.load(str(model.file), map_location=device)
        except Exception as exc:
            raise ConfigError(f"--model {model.file}: TorchScript cannot load it ({exc})") from None
    import safetensors.torch

    built = _factory(model.factory or "")()
    if not isinstance(built, nn.Module):
        raise ConfigError(f"--model {model.factory} returned {type(built).__name__}, not a module")
    try:
        built.load_state_dict(safetensors.torch.load_file(str(model.file)), strict=True)
    except Exception as exc:
        raise ConfigError(f"--weights {model.file} do not fit {model.factory}: {exc}") from None
    return built.to(device)


class Exported(nn.Module):
    """A torch.export program. Its training or eval behaviour (dropout, batch-norm) was fixed
    when it was exported, and torch refuses to switch it; so `train()` and `eval()` stop here
    (a program exported in training mode keeps its dropout: the determinism check fails)."""

    def __init__(self, program: nn.Module) -> None:
        super().__init__()
        self.program = program
        self.training = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.program(x)

    def train(self, mode: bool = True) -> Exported:
        self.training = mode
        return self


class FlatInput(nn.Module):
    """Flat (N, d) inputs reshaped to what the wrapped model takes; logits out unchanged."""

    def __init__(self, inner: nn.Module, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.inner = inner
        self.shape = shape

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x.reshape(len(x), *self.shape))

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self.shape

    def layers(self) -> list[nn.Module]:
        """The wrapped model's layers in the order it applies them, for certificates: an
        nn.Sequential (nested ones opened); anything else is refused in one line."""
        if not isinstance(self.inner, nn.Sequential):
            raise ConfigError(
                f"certify needs your model as an nn.Sequential of its layers (a factory with "
                f"--weights); this one is a {type(self.inner).__name__}"
            )
        return _opened(self.inner)


def _opened(seq: nn.Sequential) -> list[nn.Module]:
    out: list[nn.Module] = []
    for m in seq:
        out += _opened(m) if isinstance(m, nn.Sequential) else [m]
    return out


def adapt(
    inner: nn.Module, *, image_shape: tuple[int, ...], num_classes: int
) -> tuple[nn.Module, tuple[int, ...]]:
    """The model taking flat inputs, and the shape of one input it reads (the image, or the
    flat vector); an error naming both shapes tried when it takes neither or does not return
    (N, classes) logits."""
    d = 1
    for s in image_shape:
        d *= s
    problems = []
    for layout, shape in (("image", image_shape), ("flat", (d,))):
        wrapped = FlatInput(inner, shape)
        answers = [_probe(wrapped, n, d, num_classes) for n in (2, 3)]
        if answers == [None, None]:
            _check_differentiable(wrapped, d)
            return wrapped, shape
        if answers[0] is None or answers[1] is None:
            raise ConfigError(
                f"the model takes {layout} inputs of one batch size only "
                f"({answers[1] or answers[0]});"
                " export it with a dynamic batch dimension: torch.export.export(model, (x,), "
                "dynamic_shapes={'x': {0: torch.export.Dim('batch')}})"
            )
        guard = next((a for a in answers if a and "Guard failed" in a), None)
        if guard is not None and "size()[0]" in guard:  # exported at a third batch size
            raise ConfigError(
                f"the model was exported for one batch size ({guard}); export it with a "
                "dynamic batch dimension: torch.export.export(model, (x,), "
                "dynamic_shapes={'x': {0: torch.export.Dim('batch')}})"
            )
        problems.append(f"{layout} {tuple([2, *shape])}: {answers[0]}")
    raise ConfigError("the model takes neither input layout: " + "; ".join(problems))


def _check_differentiable(model: nn.Module, d: int) -> None:
    """Gradient attacks need logits that depend on the input: a model whose output is a
    constant (or detached from its input) is refused in one line, before any work."""
    x = torch.rand(2, d).to(_device(model)).requires_grad_(True)
    with torch.enable_grad():
        try:
            out = model(x)
        except Exception:  # what the model cannot do with gradients on is the probe's to say
            return
    connected = (
        isinstance(out, torch.Tensor)
        and out.grad_fn is not None
        and torch.autograd.grad(out.sum(), x, allow_unused=True)[0] is not None
    )
    if not connected:
        raise ConfigError(
            "the model's output does not depend on its input (no gradient flows from its "
            "logits back to the input); lilbench attacks differentiable classifiers only"
        )


def _probe(model: nn.Module, n: int, d: int, num_classes: int) -> str | None:
    """None if the model maps n flat inputs to (n, classes) logits, else what went wrong."""
    try:
        with torch.no_grad():
            out = model(torch.rand(n, d).to(_device(model)))
    except Exception as exc:  # the model rejects this shape
        return str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (n, num_classes):
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        return f"returned {got}, expected ({n}, {num_classes}) logits"
    return None


def _device(module: nn.Module) -> torch.device:
    for p in module.parameters():
        return p.device
    for b in module.buffers():
        return b.device
    return torch.device("cpu")


def has_train_time_layers(module: nn.Module) -> list[str]:
    """Dropout and batch-norm layers: they compute differently in training mode."""
    kinds = (nn.modules.dropout._DropoutNd, nn.modules.batchnorm._BatchNorm)
    return sorted({type(m).__name__ for m in module.modules() if isinstance(m, kinds)})
