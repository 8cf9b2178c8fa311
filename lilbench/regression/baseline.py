"""Compare a suite's accuracies with a committed baseline JSON (values + absolute tolerances).

A metric missing on either side is a failure, not a skip.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from lilbench.errors import ConfigError
from lilbench.io import write_json_atomic
from lilbench.params import first_error
from lilbench.results.suite_results import ModelResult, setting_name


def metric_values(results: list[ModelResult]) -> dict[str, float]:
    """Every clean and robust accuracy, under a stable, readable name."""
    values: dict[str, float] = {}
    for r in results:
        prefix = f"{setting_name(r.setting)}/seed={r.seed}"
        for name, rec in r.attacks.items():
            if rec is None:
                continue
            values[f"{prefix}/{name}/clean"] = rec.clean.accuracy
            for p in rec.points:
                key = f"eps={p.eps:.4g}" if rec.sweep == "eps" else f"step={p.step:.4g}"
                values[f"{prefix}/{name}/{key}"] = p.accuracy
        if r.checkpoint is not None:
            values[f"{prefix}/clean_test_accuracy"] = r.checkpoint.metrics["clean_test_accuracy"]
    return values


@dataclass(frozen=True)
class Row:
    metric: str
    baseline: float | None
    now: float | None
    tolerance: float

    @property
    def delta(self) -> float | None:
        if self.baseline is None or self.now is None:
            return None
        return self.now - self.baseline

    @property
    def passed(self) -> bool:
        d = self.delta
        return d is not None and abs(d) <= self.tolerance + 1e-12


def _tolerance(v: float) -> float:
    # An accuracy lies in [0, 1]: a tolerance of 1 or more (or infinity) can never fail, so
    # the CI gate it guards would pass whatever the numbers; a negative or NaN one always fails.
    if not (math.isfinite(v) and 0 <= v < 1):
        raise ValueError(f"a tolerance must be a finite number in [0, 1), got {v}")
    return v


class _Metric(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    value: float
    tolerance: float | None = None

    @field_validator("value")
    @classmethod
    def _value(cls, v: float) -> float:
        if not (math.isfinite(v) and 0 <= v <= 1):
            raise ValueError(f"an accuracy must be a finite number in [0, 1], got {v}")
        return v

    @field_validator("tolerance")
    @classmethod
    def _tol(cls, v: float | None) -> float | None:
        return None if v is None else _tolerance(v)


class _Baseline(BaseModel):
    """A baseline file as `lilbench check --update` writes it: every key known, every
    number finite and in range, so the gate it guards can both pass and fail."""

    model_config = ConfigDict(extra="forbid", strict=True)
    suite: str | None = None
    note: str = ""
    default_tolerance: float = 0.005
    metrics: dict[str, _Metric] = Field(default_factory=dict)
    provenance: dict[str, Any] | None = None

    @field_validator("default_tolerance")
    @classmethod
    def _tol(cls, v: float) -> float:
        return _tolerance(v)


def _known(loc: tuple[Any, ...]) -> list[str]:
    return list(_Metric.model_fields if loc[:1] == ("metrics",) else _Baseline.model_fields)


def load_baseline(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ConfigError(f"no baseline at {path}; create it with --update") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("metrics"), dict):
        raise ConfigError(f"{path}: expected an object with a 'metrics' mapping")
    try:
        _Baseline.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {first_error(exc, _known)}") from None
    return data


def check_baseline_suite(baseline: dict[str, Any], path: Path, suite: str) -> None:
    """A baseline written for another suite is refused before any work (its metrics would
    all read as missing)."""
    owner = baseline.get("suite")
    if owner is not None and owner != suite:
        raise ConfigError(
            f"{path} is the baseline of suite {owner!r}, not {suite!r}; give {suite!r}'s "
            f"baseline, or write one with `lilbench check SUITE --baseline NEW.json --update`"
        )


def compare(baseline: dict[str, Any], now: dict[str, float], *, path: Path) -> list[Row]:
    """A row per metric on either side. No metric in common means the baseline describes
    another suite (or another grid): refused in one line rather than read as regressions."""
    if now and baseline["metrics"] and not set(now) & set(baseline["metrics"]):
        example = sorted(baseline["metrics"])[0]
        raise ConfigError(
            f"{path} shares no metric with this suite's results (it has e.g. {example!r}, "
            f"now e.g. {sorted(now)[0]!r}); give the suite's own baseline, or rewrite it with "
            "--update"
        )
    default_tol = float(baseline.get("default_tolerance", 0.005))
    metrics = baseline["metrics"]
    rows = []
    for name in sorted(set(metrics) | set(now)):
        entry = metrics.get(name)
        rows.append(
            Row(
                metric=name,
                baseline=None if entry is None else float(entry["value"]),
                now=now.get(name),
                tolerance=default_tol
                if entry is None
                else float(entry.get("tolerance", default_tol)),
            )
        )
    return rows


def check_tolerance(tolerance: float) -> float:
    """The command line's --tolerance, under the baseline file's own rule."""
    try:
        return _tolerance(tolerance)
    except ValueError as exc:
        raise ConfigError(f"--tolerance: {exc}") from None


def write_baseline(
    path: Path,
    suite_name: str,
    now: dict[str, float],
    *,
    tolerance: float,
    note: str,
    provenance: dict[str, Any] | None = None,
) -> None:
    check_tolerance(tolerance)
    body: dict[str, Any] = {
        "suite": suite_name,
        "note": note,
        "default_tolerance": tolerance,
        "metrics": {k: {"value": v, "tolerance": tolerance} for k, v in sorted(now.items())},
    }
    if provenance is not None:
        body["provenance"] = provenance
    write_json_atomic(path, body)


def changes(old: dict[str, Any] | None, now: dict[str, float]) -> list[str]:
    """What writing `now` over the baseline `old` changes, a line per metric (for --update)."""
    if old is None:
        return [f"new baseline: {len(now)} metrics"]
    before = {k: float(v["value"]) for k, v in old["metrics"].items()}
    lines = [f"added {k} = {now[k]:.4f}" for k in sorted(set(now) - set(before))]
    lines += [f"removed {k} (was {before[k]:.4f})" for k in sorted(set(before) - set(now))]
    lines += [
        f"changed {k}: {before[k]:.4f} -> {now[k]:.4f} ({now[k] - before[k]:+.4f})"
        for k in sorted(set(now) & set(before))
        if now[k] != before[k]
    ]
    return lines
