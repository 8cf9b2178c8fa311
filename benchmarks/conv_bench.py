"""Training throughput of the convolutional LIL presets on CIFAR-10-shaped data, side by side.

    python benchmarks/conv_bench.py [--samples 2000] [--device cpu|cuda] [--presets small,authors]

The data are random uint8-like pixels of CIFAR-10's shape (3 x 32 x 32, 10 classes): training
cost does not depend on the pixel values, and CIFAR-10 itself cannot be downloaded on the
machines this is built on. Prints samples/s per preset at beta 0 and 1 (L_iso's cost), the
estimated time of one 50,000-image epoch, and the ratio between the presets.
"""

from __future__ import annotations

import argparse
import time

import torch

from lilbench.data import Dataset
from lilbench.runtime import cores
from lilbench.training.config import TrainConfig
from lilbench.training.train import train


def fake_cifar(samples: int) -> Dataset:
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (samples + 100, 3072), generator=gen).float() / 255.0
    y = torch.randint(0, 10, (samples + 100,), generator=gen)
    return Dataset(
        name="cifar10",
        x_train=x[:samples],
        y_train=y[:samples],
        x_test=x[samples:],
        y_test=y[samples:],
        num_classes=10,
        checksum="synthetic",
        pixels=True,
        shape=(3, 32, 32),
        mean=(0.4914, 0.4822, 0.4465),
        std=(0.2470, 0.2435, 0.2616),
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=2000)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--presets", default="small,authors")
    args = ap.parse_args()
    data = fake_cifar(args.samples)
    print(
        f"torch {torch.__version__}, device {args.device}, {torch.get_num_threads()} threads "
        f"({cores()} cores), {args.samples} CIFAR-shaped samples x 1 epoch, batch 100"
    )
    rates: dict[str, float] = {}
    for preset in args.presets.split(","):
        for beta in (0.0, 1.0):
            config = TrainConfig.for_dataset("cifar10", conv=preset, beta=beta, epochs=1)
            t0 = time.perf_counter()
            metrics = train(config, data, device=args.device).metrics
            rate = float(metrics["samples_per_second"])
            rates[f"{preset} beta={beta:g}"] = rate
            print(
                f"{preset:8s} beta={beta:g}: {rate:8,.0f} samples/s; one 50,000-image epoch "
                f"~{50000 / rate / 60:.1f} min (run {time.perf_counter() - t0:.1f} s)"
            )
    names = args.presets.split(",")
    if len(names) == 2:
        a, b = (rates[f"{n} beta=1"] for n in names)
        print(f"ratio {names[0]} / {names[1]} throughput at beta 1: {a / b:.1f}x")


if __name__ == "__main__":
    main()
