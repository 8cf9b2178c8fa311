"""A suite's wall time three ways, from clean runs directories, side by side in one run:

1. before: the code path of lilbench before batching (every model trained by the plain
   one-model loop, PGD through ART's own `generate`, one process with torch's default threads),
2. batched: models that differ only in beta trained in one pass, the lean PGD loop, one
   process with one thread (`lilbench run --workers 1`),
3. batched with 2 worker processes (`lilbench run --workers 2`, the default on 2 cores).

    python benchmarks/suite_bench.py [--quick] [--suite suites/paper-mnist.yaml]
        [--only before,batched,workers] [--costs suites/paper-mnist-rigorous.yaml]

--quick runs a same-shape reduced suite (6 betas, 10,000 training images for 1 epoch, 2,000
test images, the same attack grids). Prints each wall time, the ratios to `before`, and
whether the three produced the same numbers (1 and 2 must agree bit for bit; 1 differs from
them in the last bits, being another code path). --costs adds a cached suite's measured
cost per attack and per model (benchmarks/suite_costs.py; runs nothing).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent

# Run inside a fresh interpreter per variant, so imports, thread pools and caches start cold
# for each, as they do for a user.
BEFORE = """
import sys, torch
from pathlib import Path
from lilbench.attacks import art_backend
from lilbench.attacks.kernels import art_steps
from lilbench.results import suite_results
from lilbench.suites import load_suite
from lilbench.training import batched, pipeline

# The earlier code path: no batching (every model by the plain loop) and ART's PGD.
batched.batch_key = lambda config: None
pipeline.batch_key = batched.batch_key
suite_results.group_configs = lambda configs: [[i] for i in range(len(configs))]
def stock(clf, x, y, *, eps, step, steps, batch_size, clean_signs=None):
    return art_backend.art_pgd(
        clf, x, y, eps=eps, step=step, steps=steps, restarts=0, batch_size=batch_size, seed=0
    )
art_steps.linf_pgd_clean_start = stock
suite_results.run_suite(load_suite(Path(sys.argv[1])), runs_dir=Path(sys.argv[2]))
"""


def _quick(suite: Path, out: Path) -> Path:
    raw = yaml.safe_load(suite.read_text())
    raw["name"] = raw["name"] + "-quick"
    raw["train"] = {**raw.get("train", {}), "limit": 10000, "epochs": 1}
    raw["test_limit"] = 2000
    path = out / "quick.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def _numbers(runs: Path) -> dict[str, object]:
    """Each model's tensor hash and each record's per-example bits, keyed by file."""
    out: dict[str, object] = {}
    for meta in sorted(runs.glob("models/*/meta.json")):
        out[meta.parent.name] = json.loads(meta.read_text())["tensors_sha256"]
    for path in sorted(runs.glob("attacks/*/*.json")):
        record = json.loads(path.read_text())
        out[f"{path.parent.name}/{path.name}"] = [p.get("correct_bits") for p in record["points"]]
    return out


def _wall(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, cwd=ROOT)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--suite", type=Path, default=ROOT / "suites" / "paper-mnist.yaml")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", default="before,batched,workers")
    ap.add_argument("--costs", type=Path, default=None)
    ap.add_argument("--runs-dir", type=Path, default=ROOT / "runs", help="for --costs")
    args = ap.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="suite-bench-"))
    suite = _quick(args.suite, scratch) if args.quick else args.suite
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    lilbench = str(Path(sys.executable).with_name("lilbench"))
    variants = {
        "before": [sys.executable, "-c", BEFORE, str(suite), str(scratch / "before")],
        "batched": [lilbench, "run", str(suite), "--runs-dir", str(scratch / "batched")],
        "workers": [lilbench, "run", str(suite), "--runs-dir", str(scratch / "workers")],
    }
    variants["batched"] += ["--workers", "1"]
    variants["workers"] += ["--workers", "2"]
    chosen = [v for v in args.only.split(",") if v]
    load = os.getloadavg()[0]
    print(f"suite {suite.name}; {os.cpu_count()} cores; load average before: {load:.2f}")
    walls: dict[str, float] = {}
    for name in chosen:
        walls[name] = _wall(variants[name], env)
        print(f"{name:>8}: {walls[name]:7.1f} s wall", flush=True)
    if "before" in walls:
        for name, wall in walls.items():
            print(f"{name:>8}: {walls['before'] / wall:5.2f}x the speed of before")
    numbers = {name: _numbers(scratch / name) for name in walls}
    if "batched" in numbers and "workers" in numbers:
        same = numbers["batched"] == numbers["workers"]
        print(f"batched and workers identical (weights and every per-point count): {same}")
    if "before" in numbers and "batched" in numbers:
        before, now = numbers["before"], numbers["batched"]
        differ = sum(before.get(k) != v for k, v in now.items())
        print(f"before vs batched: {differ} of {len(now)} files differ in some count or bit")
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    shutil.rmtree(scratch)
    if args.costs is not None:
        costs = ROOT / "benchmarks" / "suite_costs.py"
        cmd = [sys.executable, str(costs), str(args.costs), "--runs-dir", str(args.runs_dir)]
        subprocess.run(cmd, check=True)


if __name__ == "__main__":
    main()
