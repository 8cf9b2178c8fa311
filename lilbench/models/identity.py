"""What a module held in memory is, for caching: one canonical serialisation of its
structure (every submodule's name, class, mode and settings, every class's source) and its
tensors. Results computed on a module are keyed by it (`lilbench.evaluate`), and so are the
indicators a model's attack runs share (`attacks.indicators`)."""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import nn


def module_identity(model: nn.Module) -> str:
    """A module held in memory, serialised canonically: every submodule's name, class, mode
    (training or eval), its `extra_repr` (a layer's settings: Softmax's dim, Dropout's p)
    and the source of every class in the tree (an edited forward is a new model), then its
    tensors. Two modules share an identity, and so their cached results, only when all of
    this is equal: a wrapper that adds a parameter-free layer (Softmax, Dropout) is a new
    model, though its tensors are the same."""
    h = hashlib.sha256()
    sources: dict[str, str] = {}
    for name, sub in model.named_modules():
        cls = type(sub)
        qual = f"{cls.__module__}.{cls.__qualname__}"
        h.update(json.dumps([name, qual, bool(sub.training), sub.extra_repr()]).encode())
        if qual not in sources:
            sources[qual] = _class_source(cls)
    for qual, source in sorted(sources.items()):
        h.update(json.dumps([qual, source]).encode())
    _hash_tensors(h, model)
    return h.hexdigest()


def legacy_module_identity(model: nn.Module) -> str:
    """The identity lilbench gave a module before identities hashed the whole module (its
    top class, that class's module source and its tensors): read only to say that results
    stored under it are not reused, since it could not tell a model from the same model
    with a Softmax appended."""
    h = hashlib.sha256()
    cls = type(model)
    h.update(f"{cls.__module__}.{cls.__qualname__}".encode())
    with contextlib.suppress(OSError, TypeError):
        h.update(inspect.getsource(inspect.getmodule(cls)).encode())  # type: ignore[arg-type]
    _hash_tensors(h, model)
    return h.hexdigest()


def _hash_tensors(h: hashlib._Hash, model: nn.Module) -> None:
    """Every tensor of the state dict, in name order: its name, dtype, shape and bytes."""
    import torch

    for name, t in sorted(model.state_dict().items()):
        t = t.detach().cpu().contiguous()
        h.update(json.dumps([name, str(t.dtype), list(t.shape)]).encode())
        # reshape: a 0-d tensor (batch norm's num_batches_tracked) cannot be viewed as bytes
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")


def _class_source(cls: type) -> str:
    """The source of a class's module (its forward and its helpers); a class without source
    (defined in a REPL) gives its methods' bytecode instead, so an edit still shows."""
    with contextlib.suppress(OSError, TypeError):
        return inspect.getsource(inspect.getmodule(cls))  # type: ignore[arg-type]
    parts = []
    for klass in cls.__mro__:
        for attr, value in sorted(vars(klass).items()):
            code = getattr(value, "__code__", None)
            if code is not None:
                consts = [c for c in code.co_consts if not hasattr(c, "co_code")]
                parts.append(f"{klass.__qualname__}.{attr}:{code.co_code.hex()}:{consts!r}")
    return "\n".join(parts)
