"""Where a suite's compute went: seconds per part (training, each attack, in total and per
model) from the timings its checkpoints and records carry. Reads the cache, runs nothing.

    python benchmarks/suite_costs.py suites/defences-mnist.yaml [--runs-dir runs]
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

from lilbench.results.suite_results import collect_suite
from lilbench.suites import load_suite


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("suite", type=Path)
    ap.add_argument("--runs-dir", type=Path, default=Path("runs"))
    args = ap.parse_args()
    suite = load_suite(args.suite)
    results, missing = collect_suite(suite, runs_dir=args.runs_dir)
    if missing:
        print(f"missing {len(missing)} item(s); figures cover what is cached")
    # part -> method -> seconds, summed over seeds
    cost: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for r in results:
        if r.checkpoint is not None:
            cost["training"][r.label] += float(r.checkpoint.metrics.get("train_seconds", 0.0))
        for label, rec in r.attacks.items():
            if rec is not None:
                cost[label][r.label] += float(rec.timings.get("total_seconds", 0.0))
    settings = list(dict.fromkeys(r.label for r in results))
    seeds = len(suite.seeds)
    width = max(len(s) for s in settings)
    print(f"seconds per model (mean over {seeds} seed(s)); last column: the part's total")
    print(" " * 12 + "".join(f"{s[:14]:>15}" for s in settings) + f"{'total':>10}")
    grand = 0.0
    for part, per in cost.items():
        total = sum(per.values())
        grand += total
        cells = "".join(f"{per.get(s, 0.0) / seeds:>15.1f}" for s in settings)
        print(f"{part[:12]:<12}{cells}{total:>10.0f}")
    print(f"{'all parts':<{width}} {grand:.0f} s = {grand / 60:.1f} min of recorded compute")


if __name__ == "__main__":
    main()
