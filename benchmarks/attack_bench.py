"""lilbench's FGSM and PGD sweeps (through ART) vs the pure-torch reference, side by side.

    python benchmarks/attack_bench.py [--checkpoint DIR] [--limit 10000] [--repeats 2]

Same model, same 10,000 test inputs, same batch size (1000). Reference FGSM sweep: one input
gradient per batch, then every eps applied in torch (the efficient way). Reference PGD
sweep: 10 steps at each of the 10 step sizes. lilbench's time includes its sanity checks.
Also times stock ART (FastGradientMethod per eps, ProjectedGradientDescent) for context.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from art.attacks.evasion import FastGradientMethod, ProjectedGradientDescent

import lilbench
from lilbench.attacks import FGSM, PGD
from lilbench.attacks import art_backend as art
from lilbench.attacks.grids import PAPER_GRID
from lilbench.attacks.runner import run_attack
from lilbench.data import load_dataset
from lilbench.training.config import TrainConfig
from lilbench.training.pipeline import ensure_checkpoint

# the test-only oracles (tests/oracles.py): the pure-torch reference attacks
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import oracles as ref

BS = 1000


def best_of(repeats: int, fn: Callable[[], object]) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--checkpoint", type=Path)
    ap.add_argument("--limit", type=int, default=10000)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--no-stock", action="store_true", help="skip stock ART timings")
    args = ap.parse_args()
    path = args.checkpoint or ensure_checkpoint(TrainConfig(beta=1.0), runs_dir=Path("runs"))
    path = path if isinstance(path, Path) else path.checkpoint.path
    model = lilbench.load_model(path)
    data = load_dataset("mnist")
    x, y = data.x_test[: args.limit], data.y_test[: args.limit]
    r = args.repeats

    def ref_fgsm_sweep() -> None:
        for i in range(0, len(x), BS):
            xb, yb = x[i : i + BS], y[i : i + BS]
            signs = ref.input_gradient(model, xb, yb).sign()
            for eps in PAPER_GRID:
                adv = (xb + eps * signs).clamp(0, 1)
                ref.accuracy(model, adv, yb)

    def ref_pgd_sweep() -> None:
        for step in PAPER_GRID:
            ref.accuracy(model, ref.pgd(model, x, y, eps=0.5, step=step, steps=10), y)

    def lil(spec: FGSM | PGD) -> tuple[float, float]:
        """(total seconds, seconds without the sanity checks), best of r runs."""
        runs = [run_attack(model, spec, x, y, num_classes=10).timings for _ in range(r)]
        return (min(t["total_seconds"] for t in runs), min(t["attack_seconds"] for t in runs))

    fgsm_t, pgd_t = lil(FGSM()), lil(PGD())
    fgsm_ref, pgd_ref = best_of(r, ref_fgsm_sweep), best_of(r, ref_pgd_sweep)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {len(x)} inputs, "
        f"batch {BS}, best of {r}"
    )
    print(
        f"{'sweep':28s} {'lilbench':>10s} {'reference':>10s} {'ratio':>7s}"
        f" {'no checks':>10s} {'ratio':>7s}"
    )
    for name, (mine, bare), theirs in (
        ("FGSM sweep (10 eps)", fgsm_t, fgsm_ref),
        ("PGD sweep (10 step sizes)", pgd_t, pgd_ref),
    ):
        print(
            f"{name:28s} {mine:9.2f}s {theirs:9.2f}s {mine / theirs:6.2f}x"
            f" {bare:9.2f}s {bare / theirs:6.2f}x"
        )
    if not args.no_stock:
        clf = art.make_classifier(
            lilbench.load_model(path), input_dim=784, num_classes=10, device=torch.device("cpu")
        )
        xn, yn = x.numpy(), y.numpy()

        def stock_fgsm() -> None:
            for eps in PAPER_GRID:
                FastGradientMethod(clf, norm=np.inf, eps=eps, batch_size=BS).generate(xn, yn)

        def stock_pgd() -> None:
            for step in PAPER_GRID:
                ProjectedGradientDescent(
                    clf,
                    norm=np.inf,
                    eps=0.5,
                    eps_step=step,
                    max_iter=10,
                    batch_size=BS,
                    verbose=False,
                ).generate(xn, yn)

        print(f"stock ART FGSM sweep: {best_of(1, stock_fgsm):.2f}s ({fgsm_ref:.2f}s ref)")
        print(f"stock ART PGD sweep:  {best_of(1, stock_pgd):.2f}s ({pgd_ref:.2f}s ref)")


if __name__ == "__main__":
    main()
