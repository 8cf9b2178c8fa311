"""Run a whole suite (train or reuse every model, attack or reuse every record) and collect it.

Everything is cached per item, so a run that is interrupted continues where it stopped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from lilbench.errors import LilbenchError

if TYPE_CHECKING:
    from lilbench.data import Dataset
    from lilbench.models.external import ExternalModel
from lilbench.results.attack_runs import ensure_attack
from lilbench.results.certificates import ensure_certificate, find_certificate
from lilbench.results.diagnostic_records import measured
from lilbench.results.executors import Executor, Sequential
from lilbench.results.inspection import ensure_inspection, find_inspection
from lilbench.results.model_check_records import ensure_model_checks, find_checks
from lilbench.results.perturbation_records import Perturbed, ensure_perturbed, find_perturbed
from lilbench.results.records import find_record
from lilbench.results.smoothing_records import ensure_smoothing, find_smoothing
from lilbench.schemas import AttackRecord, CertificateRecord, ChecksRecord, SmoothingRecord
from lilbench.suites import Setting, Suite
from lilbench.threats import threat
from lilbench.training.batched import group_configs
from lilbench.training.checkpoint import (
    Checkpoint,
    find_checkpoint,
    find_external,
    import_external,
    read_checkpoint,
    storage_hash,
)
from lilbench.training.config import TrainConfig
from lilbench.training.pipeline import ensure_checkpoints

ItemDone = Callable[[str, bool], None]
"""(description of the finished item, whether it was reused)."""


@dataclass
class ModelResult:
    setting: Setting
    seed: int
    checkpoint: Checkpoint | None
    attacks: dict[str, AttackRecord | None] = field(default_factory=dict)
    model_checks: ChecksRecord | None = None
    certificates: dict[str, CertificateRecord | None] = field(default_factory=dict)  # by norm
    perturbed: Perturbed | None = None  # accuracy under noise and corruptions
    smoothed: dict[float, SmoothingRecord | None] = field(default_factory=dict)  # by sigma

    @property
    def beta(self) -> float:
        return self.setting.beta

    @property
    def label(self) -> str:
        """The setting's name in tables: the beta, or "pgd-at eps=0.1"."""
        return self.setting.label

    def completed_attacks(self) -> dict[str, AttackRecord]:
        """The attack records that exist (what the model-level checks are computed from)."""
        return {k: v for k, v in self.attacks.items() if v is not None}

    def to_dict(self) -> dict[str, Any]:
        ckpt = self.checkpoint
        return {
            "setting": self.label,
            "beta": self.beta,
            "seed": self.seed,
            "checkpoint": None if ckpt is None else str(ckpt.path),
            "metrics": None if ckpt is None else ckpt.metrics,
            "attacks": {k: None if v is None else v.dump() for k, v in self.attacks.items()},
            "model_checks": None if self.model_checks is None else self.model_checks.dump(),
            # L-inf's key is always there; another norm's only where it was certified
            "certificate": _dump(self.certificate_of("inf")),
            **{
                certificate_key(norm): cert.dump()
                for norm, cert in self.certificates.items()
                if cert is not None and not threat(norm).is_default
            },
            **(
                {"noise": self.perturbed.noise, "corruptions": self.perturbed.corruptions}
                if self.perturbed is not None
                else {}
            ),
            **(
                {"smoothing": {f"{s:g}": _dump(r) for s, r in self.smoothed.items()}}
                if self.smoothed
                else {}
            ),
        }

    def certificate_of(self, norm: str = "inf") -> CertificateRecord | None:
        return self.certificates.get(norm)


def certificate_key(norm: str) -> str:
    """The key of a norm's certificate in a result's JSON: certificate, certificate_l2, ..."""
    return "certificate" + threat(norm).suffix.replace("-", "_")


def _dump(record: CertificateRecord | SmoothingRecord | None) -> dict[str, Any] | None:
    return None if record is None else record.dump()


def certify_item(norm: str) -> str:
    """How progress and missing-item lists name a certify item: certify, certify l2, ..."""
    suffix = threat(norm).suffix
    return "certify" + (f" {suffix.lstrip('-')}" if suffix else "")


def item_count(suite: Suite) -> int:
    per_model = 1 + len(suite.attacks) + int(suite.model_checks)
    own = len(suite.certifies) + int(suite.perturbs) + int(suite.mechanism) + int(suite.geometry)
    own += int(suite.inspect)
    # a user's model has no phi (no measures), and a file's layers cannot be certified
    skipped = sum(
        int(suite.mechanism)
        + int(suite.geometry)
        + int(suite.inspect)
        + (len(suite.certifies) if s.external.weights is None else 0)
        for s in suite.settings
        if s.external is not None
    )
    smoothed = sum(
        len(suite.smoothings_for(s, seed)) for s in suite.settings for seed in suite.seeds
    )
    return (
        len(suite.settings) * len(suite.seeds) * (per_model + own)
        - skipped * len(suite.seeds)
        + smoothed
    )


def _entry(suite: Suite, setting: Setting, data_dir: Path | None) -> tuple[ExternalModel, Dataset]:
    """A `models:` entry's model (checked) and the suite's data set."""
    from lilbench.data import load_dataset
    from lilbench.models.external import parse_model_option

    entry = setting.external
    assert entry is not None
    model = parse_model_option(entry.model, entry.weights)
    return model, load_dataset(suite.dataset, data_dir=data_dir)


def _import_entry(suite: Suite, setting: Setting, where: _Where) -> tuple[Checkpoint, bool]:
    """A `models:` entry imported into the runs directory (once per file): (entry, reused)."""
    model, data = _entry(suite, setting, where.data_dir)
    found = find_external(where.runs_dir, model, dataset=data)
    if found is not None:
        return found, True
    return import_external(where.runs_dir, model, dataset=data, device=where.device), False


@dataclass(frozen=True)
class _Where:
    """What every work item of a run needs to find its inputs and store its outputs."""

    runs_dir: Path
    data_dir: Path | None
    device: str
    force: bool


@dataclass(frozen=True)
class _ModelWork:
    """Everything done to one model: its attacks, certificate and model checks."""

    setting: Setting
    config: TrainConfig | None  # None: a `models:` entry, found at `checkpoint`
    seed: int
    what: str
    suite: Suite
    checkpoint: Path | None = None


def _train_item(configs: list[TrainConfig], where: _Where) -> list[tuple[str, bool]]:
    """Train-or-reuse a chunk of configs; (config hash, reused) per config."""
    trained = ensure_checkpoints(
        configs,
        runs_dir=where.runs_dir,
        data_dir=where.data_dir,
        device=where.device,
        force=where.force,
    )
    return [(t.checkpoint.config_hash, t.reused) for t in trained]


def _model_item(work: _ModelWork, where: _Where) -> tuple[ModelResult, list[tuple[str, bool]]]:
    """Attack, certify and check one model: its result and the (item, reused) events."""
    suite, seed, what = work.suite, work.seed, work.what
    if work.checkpoint is not None:
        ckpt: Checkpoint | None = read_checkpoint(work.checkpoint)
    else:
        assert work.config is not None
        ckpt = find_checkpoint(where.runs_dir, work.config, where.device)
    if ckpt is None:  # trained in the previous phase: gone means someone deleted it meanwhile
        raise LilbenchError(f"the checkpoint of {what} vanished from {where.runs_dir}; run again")
    result = ModelResult(work.setting, seed, ckpt)
    events: list[tuple[str, bool]] = []
    runs, data, limit = where.runs_dir, where.data_dir, suite.test_limit
    for spec in suite.attacks:
        run = ensure_attack(
            ckpt,
            spec,
            runs_dir=runs,
            data_dir=data,
            limit=limit,
            seed=seed,
            device=where.device,
            force=where.force,
        )
        result.attacks[spec.label] = run.record
        events.append((f"{spec.label} {what}", run.reused))
    # a user's model is bounded when its layers can be read in order (a factory's module)
    certifiable = not ckpt.external or ckpt.meta["external"]["kind"] == "factory"
    for cspec in suite.certifies if certifiable else ():
        cert = ensure_certificate(
            ckpt, cspec, runs_dir=runs, data_dir=data, limit=limit, force=where.force
        )
        result.certificates[cspec.norm] = cert.record
        events.append((f"{certify_item(cspec.norm)} {what}", cert.reused))
    for sspec in suite.smoothings_for(work.setting, seed):
        smoothed = ensure_smoothing(
            ckpt,
            sspec,
            runs_dir=runs,
            data_dir=data,
            limit=suite.smoothing_limit,
            seed=seed,
            force=where.force,
        )
        result.smoothed[sspec.sigma] = smoothed.record
        events.append((f"smoothing sigma={sspec.sigma:g} {what}", smoothed.reused))
    if suite.perturbs:
        _, missing = find_perturbed(
            ckpt, suite.noise, suite.corruptions, runs_dir=runs, limit=limit, seed=seed
        )
        result.perturbed = ensure_perturbed(
            ckpt,
            suite.noise,
            suite.corruptions,
            runs_dir=runs,
            data_dir=data,
            limit=limit,
            seed=seed,
        )
        events.append((f"noise and corruptions {what}", not missing))
    # the measures the report reads (computed here, in the worker, not when it is written)
    wanted = {"mechanism": suite.mechanism, "geometry": suite.geometry}
    for kind in (k for k, on in wanted.items() if on):
        if not ckpt.external:
            cached = measured(ckpt, kind, runs_dir=runs, data_dir=data, compute=False)
            measured(ckpt, kind, runs_dir=runs, data_dir=data)
            events.append((f"{kind} {what}", cached is not None))
    if suite.inspect and not ckpt.external:
        before = find_inspection(ckpt, runs_dir=runs, data_dir=data, seed=seed)
        ensure_inspection(ckpt, runs_dir=runs, data_dir=data, seed=seed)
        events.append((f"inspect {what}", before is not None))
    if suite.model_checks:
        checked = ensure_model_checks(
            ckpt,
            result.completed_attacks(),
            runs_dir=runs,
            data_dir=data,
            limit=limit,
            seed=seed,
            force=where.force,
        )
        result.model_checks = checked.record
        events.append((f"model checks {what}", checked.reused))
    return result, events


def run_suite(
    suite: Suite,
    *,
    runs_dir: Path,
    data_dir: Path | None = None,
    device: torch.device | str = "cpu",
    on_item: ItemDone | None = None,
    force: bool = False,
    executor: Executor | None = None,
    preflight: bool = True,
) -> list[ModelResult]:
    """Train every model (those that can share a pass in one batch), then attack, certify and
    check each. `force` recomputes every item. The executor runs the independent items (chunks
    of training batches, then models) in this process, in worker processes or on Ray; the
    results are the same whichever runs them."""
    ex = executor or Sequential()
    where = _Where(runs_dir, data_dir, str(device), force)
    if preflight:  # the CLI asks before its progress bar and workers, and says False
        check_certifiable(suite, data_dir)
    models = [
        (setting, seed, suite.train_config(setting, seed).validate().normalised())
        for seed in suite.seeds
        for setting in suite.settings
        if setting.external is None
    ]
    names = {
        storage_hash(cfg, where.device): f"{setting_name(s)} seed={seed}" for s, seed, cfg in models
    }
    configs = [cfg for _, _, cfg in models]
    chunks = [
        [configs[i] for i in part]
        for group in group_configs(configs)
        for part in _split(group, ex.workers)
    ]
    for _, done in ex.map(_train_item, chunks, where):
        for config_hash, reused in done:
            if on_item:
                on_item(f"model {names[config_hash]}", reused)
    imported = {}
    for s in suite.settings:
        if s.external is not None:
            imported[s.label], reused = _import_entry(suite, s, where)
            for seed in suite.seeds:
                if on_item:
                    on_item(f"model {s.label} seed={seed}", reused)
    configs_of = {(s.label, seed): cfg for s, seed, cfg in models}
    works = [
        _ModelWork(
            s,
            configs_of.get((s.label, seed)),
            seed,
            f"{setting_name(s)} seed={seed}",
            suite,
            imported[s.label].path if s.external is not None else None,
        )
        for seed in suite.seeds
        for s in suite.settings
    ]
    results: list[ModelResult | None] = [None] * len(works)
    for i, (result, events) in ex.map(_model_item, works, where):
        results[i] = result
        for what, reused in events:
            if on_item:
                on_item(what, reused)
    return [r for r in results if r is not None]


def check_certifiable(suite: Suite, data_dir: Path | None) -> None:
    """Before anything is trained: the layers of each setting the suite certifies."""
    from lilbench.certify.runner import refuse_unbounded_layers

    own = [s for s in suite.settings if s.external is None] if suite.certifies else []
    configs = [(setting_name(s), suite.train_config(s, suite.seeds[0])) for s in own]
    refuse_unbounded_layers(configs, data_dir, where=str(suite.path))


def _split(group: list[int], parts: int) -> list[list[int]]:
    """A training batch in up to `parts` contiguous chunks, one per worker (a model's weights
    do not depend on its batch, so chunking changes only the wall time)."""
    parts = max(1, min(parts, len(group)))
    size = -(-len(group) // parts)
    return [group[i : i + size] for i in range(0, len(group), size)]


def collect_suite(
    suite: Suite,
    *,
    runs_dir: Path,
    fix: str = "`lilbench run SUITE --force`",
    device: str | None = None,
) -> tuple[list[ModelResult], list[str]]:
    """Read what is cached, computing nothing; returns the results and what is missing.
    A malformed record is an error whose message ends with `fix`. `device` (default: the
    suite's, else the CPU): whose checkpoints and records are read; another device's are
    never served in their place."""
    device = device or suite.device
    results, missing = [], []
    for seed in suite.seeds:
        for setting in suite.settings:
            if setting.external is not None:
                model, data = _entry(suite, setting, None)
                ckpt = find_external(runs_dir, model, dataset=data)
            else:
                ckpt = find_checkpoint(runs_dir, suite.train_config(setting, seed), device)
            result = ModelResult(setting, seed, ckpt)
            what = f"{setting_name(setting)} seed={seed}"
            if ckpt is None:
                missing.append(f"model {what}")
            for spec in suite.attacks:
                record = None
                if ckpt is not None:
                    record = find_record(
                        runs_dir,
                        ckpt,
                        spec,
                        limit=suite.test_limit,
                        seed=seed,
                        fix=fix,
                        device=device,
                    )
                if record is None:
                    missing.append(f"{spec.label} {what}")
                result.attacks[spec.label] = record
            entry = setting.external
            for cspec in suite.certifies if entry is None or entry.weights is not None else ():
                found = None
                if ckpt is not None:
                    found = find_certificate(runs_dir, ckpt, cspec, limit=suite.test_limit, fix=fix)
                result.certificates[cspec.norm] = found
                if found is None:
                    missing.append(f"{certify_item(cspec.norm)} {what}")
            for sspec in suite.smoothings_for(setting, seed):
                smoothed = None
                if ckpt is not None:
                    smoothed = find_smoothing(
                        runs_dir, ckpt, sspec, limit=suite.smoothing_limit, seed=seed, fix=fix
                    )
                result.smoothed[sspec.sigma] = smoothed
                if smoothed is None:
                    missing.append(f"smoothing sigma={sspec.sigma:g} {what}")
            if suite.perturbs and ckpt is not None:
                result.perturbed, lacking = find_perturbed(
                    ckpt,
                    suite.noise,
                    suite.corruptions,
                    runs_dir=runs_dir,
                    limit=suite.test_limit,
                    seed=seed,
                )
                missing.extend(f"{kind} {what}" for kind in lacking)
            if suite.model_checks and ckpt is not None:
                result.model_checks = find_checks(
                    runs_dir,
                    ckpt,
                    result.completed_attacks(),
                    seed,
                    limit=suite.test_limit,
                    fix=fix,
                )
                if result.model_checks is None:
                    missing.append(f"model checks {what}")
            results.append(result)
    return results, missing


def setting_name(setting: Setting) -> str:
    """How progress lines and "missing" lists name a setting (`beta=1` for the shorthand)."""
    return setting.label if setting.label != f"{setting.beta:g}" else f"beta={setting.beta:g}"
