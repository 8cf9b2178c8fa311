"""A suite from a clean runs directory: its wall time, and per part (training, each attack,
certificates) the seconds its records carry, with the checks' share of each attack (issue
48: the checks may not cost more than half the attacks they check).

    python benchmarks/check_share.py                                   # the paper suite
    python benchmarks/check_share.py suites/paper-mnist-rigorous.yaml --one-seed --workers 2
    python benchmarks/check_share.py SUITE --runs-dir runs --no-run    # read a cached run

--one-seed runs a copy of the suite with its first seed only. The wall time is
`lilbench run`'s, start-up included, in a fresh interpreter; "other" is what no record
accounts for (start-up, data loading, scheduling, the model checks and noise).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import yaml

from lilbench.results.suite_results import collect_suite
from lilbench.suites import load_suite


def _one_seed(suite: Path, where: Path) -> Path:
    raw = yaml.safe_load(suite.read_text())
    raw["seeds"] = list(raw.get("seeds") or [0])[:1]
    raw["name"] = f"{raw['name']}-one-seed"
    copy = where / suite.name
    copy.write_text(yaml.safe_dump(raw, sort_keys=False))
    return copy


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("suite", type=Path, nargs="?", default=Path("suites/paper-mnist.yaml"))
    ap.add_argument("--runs-dir", type=Path, default=None, help="default: a fresh temporary one")
    ap.add_argument("--workers", type=int, default=None, help="default: lilbench run's")
    ap.add_argument("--one-seed", action="store_true")
    ap.add_argument("--no-run", action="store_true", help="only read what --runs-dir holds")
    args = ap.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="check-share-"))
    suite_path = _one_seed(args.suite, scratch) if args.one_seed else args.suite
    runs = args.runs_dir or scratch / "runs"
    wall = None
    if not args.no_run:
        cmd = [sys.executable, "-m", "lilbench", "run", str(suite_path), "--runs-dir", str(runs)]
        cmd += ["--workers", str(args.workers)] if args.workers else []
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=os.environ.copy())
        wall = time.perf_counter() - t0
    suite = load_suite(suite_path)
    results, missing = collect_suite(suite, runs_dir=runs)
    if missing:
        print(f"missing {len(missing)} item(s); figures cover what is cached")
    parts: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for r in results:
        if r.checkpoint is not None:
            parts["training"]["total"] += float(r.checkpoint.metrics.get("train_seconds", 0.0))
        for label, rec in r.completed_attacks().items():
            t = rec.timings
            parts[label]["attack"] += float(t.get("attack_seconds", 0.0))
            parts[label]["checks"] += float(t.get("check_seconds", 0.0))
            parts[label]["total"] += float(t.get("total_seconds", 0.0))
            parts[label]["records"] += 1
        for cert in r.certificates.values():
            if cert is not None:
                parts["certificates"]["total"] += sum(float(p.seconds) for p in cert.points)
    print(f"suite {suite.name}: {len(results)} models, workers {args.workers or 'default'}")
    print(f"{'part':<22}{'records':>8}{'attack s':>10}{'checks s':>10}{'checks/attack':>15}")
    attack = checks = recorded = 0.0
    for name, p in parts.items():
        recorded += p["total"]
        if "attack" in p:
            attack, checks = attack + p["attack"], checks + p["checks"]
            share = p["checks"] / p["attack"] if p["attack"] else float("nan")
            print(
                f"{name:<22}{int(p['records']):>8}{p['attack']:>10.1f}{p['checks']:>10.1f}"
                f"{share:>15.2f}"
            )
        else:
            print(f"{name:<22}{'':>8}{p['total']:>10.1f}")
    ratio = checks / attack if attack else float("nan")
    print(f"{'all attacks':<22}{'':>8}{attack:>10.1f}{checks:>10.1f}{ratio:>15.2f}")
    print(f"recorded compute {recorded:.1f} s (summed over workers)")
    if wall is not None:
        print(f"wall time of `lilbench run`: {wall:.1f} s ({wall / 60:.1f} min)")


if __name__ == "__main__":
    main()
