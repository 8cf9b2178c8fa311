"""Training throughput at beta = 0 and beta = 1, measured side by side in one run.

    python benchmarks/train_bench.py [--epochs 1] [--limit 20000] [--repeats 2]

Prints samples/s for each and the ratio: the cost of the isometry term (two B x B cdists
on 784-d inputs and 100-d features per batch of 100, and their backward pass). Note that
beta = 0 still computes L_iso without gradients, to report it.
"""

from __future__ import annotations

import argparse

import torch

from lilbench.data import load_dataset
from lilbench.training.config import TrainConfig
from lilbench.training.train import train


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--limit", type=int, default=20000)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    data = load_dataset("mnist")
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"{args.limit} samples x {args.epochs} epoch(s), best of {args.repeats}"
    )
    best: dict[float, float] = {}
    for _ in range(args.repeats):  # interleave so drift hits both alike
        for beta in (0.0, 1.0):
            cfg = TrainConfig(beta=beta, epochs=args.epochs, limit=args.limit)
            # The loop's own rate (excludes the final test-set evaluation).
            rate = float(train(cfg, data).metrics["samples_per_second"])
            best[beta] = max(best.get(beta, 0.0), rate)
    for beta, rate in best.items():
        print(f"beta = {beta:g}: {rate:,.0f} samples/s")
    print(f"ratio beta=0 / beta=1 throughput: {best[0.0] / best[1.0]:.2f}x")


if __name__ == "__main__":
    main()
