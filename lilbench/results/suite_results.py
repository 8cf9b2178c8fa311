"""Run a whole suite (train or reuse every model, attack or reuse every record) and collect it.

Everything is cached per item, so a run that is interrupted continues where it stopped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from lilbench.results.attack_runs import ensure_attack
from lilbench.results.certificates import ensure_certificate, find_certificate
from lilbench.results.model_check_records import ensure_model_checks, find_checks
from lilbench.results.records import find_record
from lilbench.suites import Setting, Suite
from lilbench.training.checkpoint import Checkpoint, find_checkpoint
from lilbench.training.pipeline import ensure_checkpoint

ItemDone = Callable[[str, bool], None]
"""(description of the finished item, whether it was reused)."""


@dataclass
class ModelResult:
    setting: Setting
    seed: int
    checkpoint: Checkpoint | None
    attacks: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    model_checks: dict[str, Any] | None = None
    certificate: dict[str, Any] | None = None

    @property
    def beta(self) -> float:
        return self.setting.beta

    @property
    def label(self) -> str:
        """The setting's name in tables: the beta, or "pgd-at eps=0.1"."""
        return self.setting.label

    def completed_attacks(self) -> dict[str, dict[str, Any]]:
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
            "attacks": self.attacks,
            "model_checks": self.model_checks,
            "certificate": self.certificate,
        }


def item_count(suite: Suite) -> int:
    per_model = 1 + len(suite.attacks) + int(suite.model_checks) + int(suite.certify is not None)
    return len(suite.settings) * len(suite.seeds) * per_model


def run_suite(
    suite: Suite,
    *,
    runs_dir: Path,
    data_dir: Path | None = None,
    device: torch.device | str = "cpu",
    on_item: ItemDone | None = None,
    force: bool = False,
) -> list[ModelResult]:
    """`force` recomputes every item: retrains, re-attacks and rechecks."""
    results = []
    for seed in suite.seeds:
        for setting in suite.settings:
            trained = ensure_checkpoint(
                suite.train_config(setting, seed),
                runs_dir=runs_dir,
                data_dir=data_dir,
                device=device,
                force=force,
            )
            what = f"{setting_name(setting)} seed={seed}"
            if on_item:
                on_item(f"model {what}", trained.reused)
            result = ModelResult(setting, seed, trained.checkpoint)
            for spec in suite.attacks:
                run = ensure_attack(
                    trained.checkpoint,
                    spec,
                    runs_dir=runs_dir,
                    data_dir=data_dir,
                    limit=suite.test_limit,
                    seed=seed,
                    device=device,
                    force=force,
                )
                result.attacks[spec.label] = run.record
                if on_item:
                    on_item(f"{spec.label} {what}", run.reused)
            if suite.certify is not None:
                result.certificate, _, reused = ensure_certificate(
                    trained.checkpoint,
                    suite.certify,
                    runs_dir=runs_dir,
                    data_dir=data_dir,
                    limit=suite.test_limit,
                    force=force,
                )
                if on_item:
                    on_item(f"certify {what}", reused)
            if suite.model_checks:
                result.model_checks = ensure_model_checks(
                    trained.checkpoint,
                    result.completed_attacks(),
                    runs_dir=runs_dir,
                    data_dir=data_dir,
                    limit=suite.test_limit,
                    seed=seed,
                    force=force,
                )
                if on_item:
                    on_item(f"model checks {what}", False)
            results.append(result)
    return results


def collect_suite(
    suite: Suite, *, runs_dir: Path, fix: str = "`lilbench run SUITE --force`"
) -> tuple[list[ModelResult], list[str]]:
    """Read what is cached, computing nothing; returns the results and what is missing.
    A malformed record is an error whose message ends with `fix`."""
    results, missing = [], []
    for seed in suite.seeds:
        for setting in suite.settings:
            ckpt = find_checkpoint(runs_dir, suite.train_config(setting, seed))
            result = ModelResult(setting, seed, ckpt)
            what = f"{setting_name(setting)} seed={seed}"
            if ckpt is None:
                missing.append(f"model {what}")
            for spec in suite.attacks:
                record = None
                if ckpt is not None:
                    record = find_record(
                        runs_dir, ckpt, spec, limit=suite.test_limit, seed=seed, fix=fix
                    )
                if record is None:
                    missing.append(f"{spec.label} {what}")
                result.attacks[spec.label] = record
            if suite.certify is not None:
                if ckpt is not None:
                    result.certificate = find_certificate(
                        runs_dir, ckpt, suite.certify, limit=suite.test_limit, fix=fix
                    )
                if result.certificate is None:
                    missing.append(f"certify {what}")
            if suite.model_checks and ckpt is not None:
                result.model_checks = find_checks(
                    runs_dir, ckpt, result.completed_attacks(), seed, fix=fix
                )
                if result.model_checks is None:
                    missing.append(f"model checks {what}")
            results.append(result)
    return results, missing


def setting_name(setting: Setting) -> str:
    """How progress lines and "missing" lists name a setting (`beta=1` for the shorthand)."""
    return setting.label if setting.label != f"{setting.beta:g}" else f"beta={setting.beta:g}"
