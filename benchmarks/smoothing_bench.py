"""Randomized smoothing's CERTIFY, lilbench against ART's PyTorchRandomizedSmoothing.certify,
on the same images with the same n0, n, sigma and alpha, side by side (one thread).

The model is the paper's MLP (784-100x4-10 tanh) trained here with Gaussian augmentation
(`gaussian-aug`, sigma as given) for `--epochs` on `--train` MNIST images, seeded. Both
certify the first `--images` test images; the counts differ by their own noise draws, so the
certified counts agree only up to Monte-Carlo error.

    python benchmarks/smoothing_bench.py [--images 20] [--n 10000] [--sigma 0.25]

ART builds all n noisy copies of an image as one numpy array before predicting them in
batches (313 MB per MNIST image at n = 100,000); lilbench draws 1,000 at a time on the
model's device.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from torch import nn

from lilbench.certify.smoothing import SmoothingSpec, smooth_certify
from lilbench.data import load_dataset
from lilbench.training.config import TrainConfig
from lilbench.training.train import train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--n0", type=int, default=100)
    parser.add_argument("--sigma", type=float, default=0.25)
    parser.add_argument("--alpha", type=float, default=0.001)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--train", type=int, default=20_000)
    parser.add_argument("--data-dir", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    data = load_dataset("mnist", data_dir=args.data_dir)
    cfg = TrainConfig(
        objective="gaussian-aug",
        objective_params={"sigma": args.sigma},
        epochs=args.epochs,
        limit=args.train,
    )
    model: nn.Module = train(cfg, data).model.eval()
    x, y = data.x_test[: args.images], data.y_test[: args.images]
    spec = SmoothingSpec(args.sigma, n0=args.n0, n=args.n, alpha=args.alpha)

    t0 = time.perf_counter()
    ours = smooth_certify(model, x, y, spec, seed=0, classes=10)
    ours_s = time.perf_counter() - t0

    from art.estimators.certification.randomized_smoothing import PyTorchRandomizedSmoothing

    art = PyTorchRandomizedSmoothing(
        model=model,
        loss=nn.CrossEntropyLoss(),
        input_shape=(x.shape[1],),
        nb_classes=10,
        device_type="cpu",
        sample_size=args.n0,
        scale=args.sigma,
        alpha=args.alpha,
    )
    t0 = time.perf_counter()
    pred, radius = art.certify(x.numpy(), n=args.n, batch_size=1000)
    art_s = time.perf_counter() - t0

    print(f"{args.images} MNIST test images, n0 {args.n0}, n {args.n}, sigma {args.sigma:g}, "
          f"alpha {args.alpha:g}, one thread")  # fmt: skip
    print(f"{'':10} {'seconds':>8} {'s/image':>8} {'r>=0.25':>8} {'r>=0.5':>8} {'abstain':>8}")
    yl = y.tolist()
    for name, secs, p, r in (
        ("lilbench", ours_s, ours.predictions, ours.radii),
        ("ART", art_s, pred.tolist(), radius.tolist()),
    ):
        at = [
            sum(q == t and rr >= c for q, rr, t in zip(p, r, yl, strict=True)) for c in (0.25, 0.5)
        ]
        abst = sum(q == -1 for q in p)
        print(f"{name:10} {secs:8.2f} {secs / len(yl):8.3f} {at[0]:8d} {at[1]:8d} {abst:8d}")
    print(f"ART / lilbench time: {art_s / ours_s:.1f}x")


if __name__ == "__main__":
    main()
