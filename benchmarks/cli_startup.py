"""How long the CLI takes to answer, per invocation (best of N, each a fresh process).

python benchmarks/cli_startup.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

CASES = [
    ["--help"],
    ["--version"],
    *(
        [cmd, "--help"]
        for cmd in ("data", "train", "attack", "certify", "inspect", "run", "report", "check")
    ),
    ["attack", "fgsm", "--help"],
    ["attack", "autoattack", "--help"],
    ["runs", "gc", "--help"],
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    for case in CASES:
        best = float("inf")
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "lilbench", *case], check=True, capture_output=True
            )
            best = min(best, time.perf_counter() - t0)
        print(f"lilbench {' '.join(case):<30} {best:6.2f} s")


if __name__ == "__main__":
    main()
