"""Your own data in lilbench: scikit-learn's bundled 8 x 8 digits (1,797 images, real data
that needs no download), saved as an npz, then a suite over it run and reported:

    python examples/own_data.py [--out /tmp/own-data] [--seeds 0 1 2]

The npz holds x_train, y_train, x_test and y_test (floats in [0, 1], (N, 8, 8)); the suite
names it as `dataset: {file: digits.npz}`, relative to the suite's own folder. It trains
plain cross-entropy and LIL (beta 1) MLPs, attacks them with FGSM, PGD and the standard
AutoAttack, and measures Gaussian noise, MNIST-C's corruptions (grey images of any size),
certificates and geometry. Every record is keyed by the file's content: edit the npz and
every model is trained again.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np

SUITE = """\
name: own-data-digits
description: >
  scikit-learn's 8 x 8 digits (1,437 training and 360 test images), from an npz: plain
  cross-entropy against LIL, 4 x 100 tanh MLPs, 20 epochs.
dataset: {{file: digits.npz}}
train:
  epochs: 20
betas: [0, 1]
seeds: {seeds}
geometry: true
noise:
  draws: 3
  gaussian: [0.1, 0.3]
corruptions: true
certify:
  - eps: [0.01, 0.03]
    methods: [ibp, crown]
attacks:
  - name: fgsm
    eps: [0.03, 0.1, 0.2]
  - name: pgd
    eps: [0.03, 0.1, 0.2]
    steps: 20
  - name: autoattack
    eps: [0.03, 0.1]
"""


def save_digits(path: Path, *, seed: int = 0) -> tuple[int, int]:
    """The digits as an npz: pixels scaled from 0..16 to [0, 1], a seeded 80/20 split."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)
    y = digits.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(x))
    cut = int(0.8 * len(x))
    train, test = order[:cut], order[cut:]
    np.savez(path, x_train=x[train], y_train=y[train], x_test=x[test], y_test=y[test])
    return len(train), len(test)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/own-data"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    n_train, n_test = save_digits(args.out / "digits.npz")
    suite = args.out / "own-data-digits.yaml"
    suite.write_text(SUITE.format(seeds=list(args.seeds)))
    print(f"wrote {args.out / 'digits.npz'} ({n_train} train, {n_test} test) and {suite}")
    runs, reports = args.out / "runs", args.out / "reports"
    lilbench = [sys.executable, "-m", "lilbench"]
    subprocess.run([*lilbench, "run", str(suite), "--runs-dir", str(runs)], check=True)
    subprocess.run(
        [*lilbench, "report", str(suite), "--runs-dir", str(runs), "--out-dir", str(reports)],
        check=True,
    )
    print(f"report: {reports / 'own-data-digits.md'}")


if __name__ == "__main__":
    main()
