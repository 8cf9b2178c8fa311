"""Certificates for a small convolutional ReLU network: certified counts and seconds per
method at two radii, beside ART's interval bound propagation (PyTorchIBPClassifier, the
reference implementation that installs here; auto_LiRPA on PyPI needs torch < 1.13).

The network (conv 1->8 3x3, ReLU, 2x2 average pool, conv 8->16 3x3 stride 2, ReLU, linear
64->10) is trained here for `--epochs` on scikit-learn's 8 x 8 digits (real data, offline),
seeded; then the first `--n` test images are certified in L-inf.

    python benchmarks/certify_conv_bench.py [--n 200] [--eps 0.01 0.03] [--epochs 40]

ART certifies by comparing the label's lower bound with every other logit's upper bound;
lilbench's IBP bounds the margins with the last layer folded in (never looser), so its
counts may be higher on the same intervals.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
import torch
from torch import nn

from lilbench.certify.bounds import certified_all
from lilbench.certify.chain import Chain


def _data() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.tensor(d.images / 16.0, dtype=torch.float32)[:, None]
    y = torch.tensor(d.target)
    order = torch.from_numpy(np.random.default_rng(0).permutation(len(x)))
    x, y = x[order], y[order]
    return x[:1400], y[:1400], x[1400:], y[1400:]


def _net() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1),
        nn.ReLU(),
        nn.AvgPool2d(2),
        nn.Conv2d(8, 16, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(16 * 2 * 2, 10),
    )


class Hooked(nn.Module):
    """Direct Conv2d/Linear/ReLU children, as ART reads them; the flatten in forward."""

    def __init__(self, layers: list[nn.Module], flatten_at: int) -> None:
        super().__init__()
        self.flatten_at = flatten_at
        for i, m in enumerate(layers):
            self.add_module(f"m{i}", m)

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        for i, m in enumerate(self.children()):
            v = m(v.flatten(1) if i == self.flatten_at else v)
        return v


def art_ibp(net: nn.Sequential) -> object:
    """ART's IBP classifier of `net`, its average pool written as the equal grouped conv."""
    from art.estimators.certification.interval import PyTorchIBPClassifier

    pooled = nn.Conv2d(8, 8, 2, stride=2, bias=False)  # channel c: the mean of its own 2 x 2
    with torch.no_grad():
        pooled.weight.zero_()
        for c in range(8):
            pooled.weight[c, c] = 0.25
    layers = [net[0], net[1], pooled, net[3], net[4], net[6]]
    return PyTorchIBPClassifier(
        model=Hooked(layers, flatten_at=5).eval(),
        loss=nn.CrossEntropyLoss(),
        input_shape=(1, 8, 8),
        nb_classes=10,
        clip_values=(0.0, 1.0),
        device_type="cpu",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--eps", type=float, nargs=2, default=[0.01, 0.03])
    parser.add_argument("--epochs", type=int, default=40)
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    xtr, ytr, xte, yte = _data()
    net = _net()
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    for _ in range(args.epochs):
        for i in range(0, len(xtr), 100):
            opt.zero_grad()
            nn.functional.cross_entropy(net(xtr[i : i + 100]), ytr[i : i + 100]).backward()
            opt.step()
    net.eval()
    x, y = xte[: args.n], yte[: args.n]
    with torch.no_grad():
        clean = int((net(x).argmax(1) == y).sum())
    print(f"clean: {clean}/{len(x)} correct (one thread)")
    chain = Chain.from_layers(list(net), (1, 8, 8))
    art: Any = art_ibp(net)
    print("ART takes no AvgPool2d: its IBP runs on the same net, the pool as an equal conv")
    print(f"{'eps':>6} {'method':>12} {'certified':>10} {'seconds':>8}")
    for eps in args.eps:
        seconds: dict[str, float] = {}
        found = certified_all(
            chain,
            x.reshape(len(x), -1).double(),
            y,
            eps,
            ["ibp", "crown", "alpha-crown"],
            seconds=seconds,
        )
        for m, mask in found.items():
            print(f"{eps:>6g} {m:>12} {int(mask.sum()):>10} {seconds[m]:>8.2f}")
        t0 = time.perf_counter()
        bounds = art.predict_intervals(x.numpy(), bounds=eps, limits=[0.0, 1.0])
        art_cert = art.certify(bounds, y.numpy()) & (net(x).argmax(1) == y).numpy()
        art_s = time.perf_counter() - t0
        print(f"{eps:>6g} {'ART ibp':>12} {int(art_cert.sum()):>10} {art_s:>8.2f}")


if __name__ == "__main__":
    main()
