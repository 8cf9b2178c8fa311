"""Certified counts and images certified per second of Lipschitz, IBP, CROWN, alpha-CROWN
(the margins' lines optimised) and alpha-CROWN-full (the hidden layers' bounds too), side by
side in one run, on the paper MLP at beta = 1 (`lilbench train --beta
1`), one thread.

    python benchmarks/certify_bench.py [--runs-dir runs] [--limit 200] [--eps 0.001,0.003,0.01,0.02]
        [--norm inf|2] [--methods lipschitz,ibp,crown,alpha-crown,alpha-crown-full]

Prints, per eps and method, the images certified (of the correctly classified ones) and the
seconds and images per second of the bound (the chain in float64, CROWN batched 128 images).
Say whether the machine was idle when you quote it.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from lilbench.certify.bounds import Chain, certified
from lilbench.certify.spec import METHODS
from lilbench.data import load_dataset
from lilbench.threats import keys
from lilbench.training.checkpoint import load_model
from lilbench.training.config import TrainConfig
from lilbench.training.pipeline import ensure_checkpoint


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs-dir", type=Path, default=Path("runs"))
    parser.add_argument("--limit", type=int, default=200)
    parser.add_argument("--eps", default="0.001,0.003,0.01,0.02")
    parser.add_argument("--norm", choices=keys(), default="inf")
    parser.add_argument("--methods", default=",".join(METHODS))
    args = parser.parse_args()
    torch.set_num_threads(1)
    trained = ensure_checkpoint(TrainConfig(beta=1.0), runs_dir=args.runs_dir)
    data = load_dataset("mnist")
    model = load_model(trained.checkpoint.path, input_dim=data.input_dim)
    chain = Chain.from_layers(model.layers())  # type: ignore[operator]
    x = data.x_test[: args.limit].reshape(args.limit, -1).double()
    y = data.y_test[: args.limit]
    correct = int((chain.forward(x).argmax(1) == y).sum())
    print(f"model {trained.checkpoint.path.name}, {args.limit} test images, {correct} correct")
    print(f"norm {args.norm}; one thread")
    print(f"{'eps':>8} {'method':>16} {'certified':>10} {'seconds':>8} {'images/s':>9}")
    for eps in (float(e) for e in args.eps.split(",")):
        for method in args.methods.split(","):
            start = time.perf_counter()
            count = int(certified(chain, x, y, eps, method, norm=args.norm).sum())
            seconds = time.perf_counter() - start
            print(
                f"{eps:>8g} {method:>16} {count:>10} {seconds:>8.2f} {args.limit / seconds:>9.1f}"
            )


if __name__ == "__main__":
    main()
