"""What a baseline was measured on: versions, processor, threads, the suite file's hash.

A check against a baseline from another torch or another processor may differ in the last
bits of a few accuracies; saying so above the table tells such a difference from a
regression without changing the verdict, which stays with the numbers and tolerances."""

from __future__ import annotations

import platform
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

FIELDS = (
    "lilbench",
    "torch",
    "art",
    "numpy",
    "cpu",
    "cpu_capability",
    "gpu",
    "threads",
    "suite_sha256",
)
_PACKAGES = {
    "lilbench": "lilbench",
    "torch": "torch",
    "art": "adversarial-robustness-toolbox",
    "numpy": "numpy",
}


def _version(dist: str) -> str:
    try:
        return version(dist)
    except PackageNotFoundError:
        return "not installed"


def cpu_model() -> str:
    """The processor's model name (Linux's /proc/cpuinfo, else what platform says)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def current(*, suite_sha256: str, device: str) -> dict[str, Any]:
    """The provenance of numbers computed here and now, on `device`."""
    import torch

    gpu = "none"
    if device.startswith("cuda") and torch.cuda.is_available():
        gpu = torch.cuda.get_device_name(torch.device(device))
    info: dict[str, Any] = {key: _version(dist) for key, dist in _PACKAGES.items()}
    info.update(
        cpu=cpu_model(),
        # the vector instructions torch's CPU kernels use (AVX2, AVX512, ...): what makes
        # float results differ between processors
        cpu_capability=str(torch.backends.cpu.get_cpu_capability()),
        gpu=gpu,
        threads=int(torch.get_num_threads()),
        suite_sha256=suite_sha256,
    )
    return info


def differences(baseline: dict[str, Any] | None, now: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """(field, baseline's, now's) for every field that differs; a baseline written before
    baselines carried provenance differs in every field (its values are unknown)."""
    old = baseline or {}
    return [(k, old.get(k, "unknown"), now.get(k)) for k in FIELDS if old.get(k) != now.get(k)]


def _where(info: dict[str, Any]) -> str:
    gpu = info.get("gpu")
    on = gpu if gpu not in (None, "none", "unknown") else info.get("cpu_capability", "unknown")
    return f"torch {info.get('torch', 'unknown')} on {on}"


def notice(baseline: dict[str, Any] | None, now: dict[str, Any]) -> str | None:
    """One paragraph for above the table, or None when nothing differs."""
    diff = differences(baseline, now)
    if not diff:
        return None
    if baseline is None:
        return (
            "the baseline does not say what it was measured on (written before baselines "
            f"carried provenance); now {_where(now)}: small differences may be expected"
        )
    parts = []
    machine = [(k, old, new) for k, old, new in diff if k not in ("suite_sha256", "lilbench")]
    if machine:
        # name exactly what differs (the CPU model, the thread count, ...), not a summary
        # that can read the same on both sides
        what = "; ".join(f"{k}: {old} then, {new} now" for k, old, new in machine)
        parts.append(
            f"the baseline was measured elsewhere ({what}): small differences are expected"
        )
    if any(k == "suite_sha256" for k, _, _ in diff):
        parts.append("the suite file changed since the baseline was written")
    lil = [(old, new) for k, old, new in diff if k == "lilbench"]
    if lil:
        parts.append(f"lilbench {lil[0][0]} wrote the baseline, this is {lil[0][1]}")
    return "; ".join(parts)
