"""The Python API: train, load and evaluate from a script or a notebook, with the same checked,
cached attacks as the command line.

    import lilbench
    results = lilbench.evaluate(my_module, dataset="mnist", attacks=["fgsm", {"name": "pgd",
                                "eps": [0.1], "steps": 20}], test_limit=1000, seed=0)
    frame = results.to_frame()   # pandas, one row per attack point
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lilbench.errors import ConfigError
from lilbench.models.identity import legacy_module_identity, module_identity

__all__ = [
    "AttackPoint",
    "Evaluation",
    "evaluate",
    "legacy_module_identity",
    "module_identity",
    "train",
]

if TYPE_CHECKING:
    import pandas as pd
    from torch import nn

    from lilbench.attacks import AttackSpec
    from lilbench.data.base import Dataset
    from lilbench.training.checkpoint import Checkpoint

log = logging.getLogger("lilbench.api")


@dataclass(frozen=True)
class AttackPoint:
    """One robust accuracy: an attack at one eps (and step size, for step sweeps)."""

    model: str  # the model's identity (its runs-directory name)
    attack: str  # the attack's label in reports ("fgsm", "pgd-eps", ...)
    eps: float
    step: float | None
    n: int
    correct: int
    accuracy: float
    clean_accuracy: float
    checks_passed: bool  # every sanity check of this attack run (and of the model) passed
    record: str  # the JSON record it was read from


@dataclass(frozen=True)
class Evaluation:
    """The points of every attack run, with the failed checks by name."""

    points: tuple[AttackPoint, ...]
    failed_checks: tuple[str, ...] = field(default=())
    records: tuple[dict[str, Any], ...] = field(default=(), repr=False)

    def __iter__(self) -> Iterator[AttackPoint]:
        return iter(self.points)

    def __len__(self) -> int:
        return len(self.points)

    @property
    def passed(self) -> bool:
        return not self.failed_checks

    def to_frame(self) -> pd.DataFrame:
        """A pandas DataFrame, one row per point (pandas is imported here, not required)."""
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("to_frame needs pandas: pip install pandas") from None
        return pd.DataFrame([asdict(p) for p in self.points])


def _specs(attacks: Sequence[Any]) -> list[AttackSpec]:
    """Attack names, suite-style mappings ({"name": "pgd", "eps": [0.1]}) or specs."""
    from lilbench.attacks import AttackSpec
    from lilbench.attacks.parse import parse_attack

    specs = []
    for i, a in enumerate(attacks):
        if not isinstance(a, str | dict | AttackSpec):
            raise ConfigError(f"attacks[{i}]: expected a name, a mapping or an AttackSpec")
        specs.append(parse_attack(a, where=f"attacks[{i}]"))
    if not specs:
        raise ConfigError("give at least one attack")
    return specs


def evaluate(
    model: nn.Module | str | Path,
    *,
    dataset: str = "mnist",
    data: tuple[Any, Any] | None = None,
    attacks: Sequence[Any] | None = None,
    test_limit: int | None = None,
    seed: int = 0,
    runs_dir: Path | str = "runs",
    data_dir: Path | str | None = None,
    device: str = "cpu",
    force: bool = False,
) -> Evaluation:
    """Attack any PyTorch classifier (a module returning logits, or the path of a torch.export
    or TorchScript file) with lilbench's checked attacks; results are cached in `runs_dir`
    under the model's identity, as for `lilbench attack --model`. The model takes the data
    set's images (MNIST: (N, 1, 28, 28)) or flat vectors; it is evaluated in eval mode, and
    the model-level checks (logits, determinism, gradients, chance at eps = 1) run beside
    each attack. A module is attacked as a copy on `device`: the caller's module is left in
    its mode, with its gradients' flags, on its device. `attacks` defaults to the one-step
    attack (FGSM) on the paper's grid.

    `dataset` names a registered data set or a user's file (`file:PATH`); `data=(x, y)` hands
    over test images and labels instead (numpy arrays or tensors, laid out as an npz's:
    `lilbench.data.user_files`), checked, and keyed by their content."""
    from lilbench.attacks.base import quick_name
    from lilbench.runtime import pinned_threads

    specs = _specs([quick_name()] if attacks is None else attacks)
    if test_limit is not None and test_limit < 1:
        raise ConfigError(f"test_limit must be >= 1, got {test_limit}")
    source: str | Dataset = dataset
    if data is not None:
        if not (isinstance(data, tuple | list) and len(data) == 2):
            raise ConfigError("data: give (x, y), the test images and their labels")
        from lilbench.data import user_files

        x, y = data
        digest = user_files.array_checksum(x, y)
        source = user_files.from_arrays(user_files.ARRAYS, digest, x, y)
    with pinned_threads():
        return _evaluate(model, specs, source, test_limit, seed, runs_dir, data_dir, device, force)


def _evaluate(
    model: nn.Module | str | Path,
    specs: list[AttackSpec],
    dataset: str | Dataset,
    test_limit: int | None,
    seed: int,
    runs_dir: Path | str,
    data_dir: Path | str | None,
    device: str,
    force: bool,
) -> Evaluation:
    import copy

    from lilbench.data import load_dataset
    from lilbench.models.external import parse_model_option
    from lilbench.results.attack_runs import ensure_attack
    from lilbench.runtime import resolve_device
    from lilbench.training.checkpoint import find_module, import_external, import_module

    target = resolve_device(device)  # before any work: an unknown or missing GPU is one line
    runs, data_root = Path(runs_dir), (Path(data_dir) if data_dir is not None else None)
    data = dataset if not isinstance(dataset, str) else load_dataset(dataset, data_dir=data_root)
    ckpt: Checkpoint
    module = None
    if isinstance(model, str | Path):
        parsed = parse_model_option(str(model), None)
        ckpt = import_external(runs, parsed, dataset=data, device=target)
    else:
        # ART freezes the weights, switches the mode and moves the model to the device: all
        # of it happens to a copy, so the caller's module stays as it was, where it was.
        ident = module_identity(model)
        if find_module(runs, legacy_module_identity(model), dataset=data) is not None:
            log.warning(
                "%s holds results for a module of this class and these tensors under the "
                "identity lilbench used before (tensors and class source only), which could "
                "not tell this module from a wrapper around it: they are not reused; this "
                "module's are computed under its full identity",
                runs,
            )
        module = copy.deepcopy(model).to(target)
        ckpt = import_module(runs, module, ident, dataset=data, device=target)
    points: list[AttackPoint] = []
    failed: list[str] = []
    records = []
    runs_of = [
        ensure_attack(
            ckpt,
            spec,
            runs_dir=runs,
            data_dir=data_root,
            limit=test_limit,
            seed=seed,
            device=target,
            force=force,
            module=module,
            data=None if isinstance(dataset, str) else data,
        )
        for spec in specs
    ]
    for run in runs_of:
        rec = run.record
        records.append(rec.dump())  # the API hands out records as plain JSON data
        failed += [f"{rec.label}: {c.name}" for c in rec.checks if not c.passed]
        for p in rec.points:
            points.append(
                AttackPoint(
                    model=ckpt.path.name,
                    attack=rec.label,
                    eps=float(p.eps),
                    step=None if p.step is None else float(p.step),
                    n=int(p.n),
                    correct=int(p.correct),
                    accuracy=float(p.accuracy),
                    clean_accuracy=float(rec.clean.accuracy),
                    checks_passed=bool(rec.passed),
                    record=str(run.path),
                )
            )
    return Evaluation(tuple(points), tuple(failed), tuple(records))


def train(**options: Any) -> Checkpoint:
    """Train (or reuse) one model, as `lilbench train` does: `lilbench.train(beta=1.0)`;
    options are TrainConfig's fields plus `runs_dir`, `data_dir`, `device` and `force`."""
    from lilbench.runtime import pinned_threads, resolve_device
    from lilbench.training.config import TrainConfig
    from lilbench.training.pipeline import ensure_checkpoint

    where = {k: options.pop(k) for k in ("runs_dir", "data_dir", "device", "force") if k in options}
    config = TrainConfig.for_dataset(options.pop("dataset", "mnist"), **options).validate()
    device = resolve_device(where.get("device", "cpu"))
    with pinned_threads():
        return ensure_checkpoint(
            config,
            runs_dir=Path(where.get("runs_dir", "runs")),
            data_dir=where.get("data_dir"),
            device=device,
            force=bool(where.get("force", False)),
        ).checkpoint
