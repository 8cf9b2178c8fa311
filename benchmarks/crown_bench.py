"""CROWN's speed, side by side with an earlier revision's `certify/bounds.py`, on the
issue-49 setting: the paper MLP at beta 10 (seed 0), the first 100 MNIST test images, L-inf
eps 0.003 and 0.01, one thread. Prints the certified counts of both (they must agree) and
the time ratio.

    python benchmarks/crown_bench.py [--runs-dir runs] [--before 2c39a00] [--repeat 3]
        [--beta 10] [--limit 100] [--eps 0.003,0.01] [--methods crown,alpha-crown]
        [--norm inf|2] [--together]

--together adds a row per eps for the methods run as a certify run runs them: now one
`certified_all` call (the methods share CROWN's layer bounds), before one call per method.

The earlier code is read with `git show REV:lilbench/certify/bounds.py` and imported
from a temporary file (it needs nothing but torch and lilbench.certify.spec). Say whether
the machine was idle when you quote it.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import torch

from lilbench.certify.bounds import Chain, certified, certified_all
from lilbench.data import load_dataset
from lilbench.training.checkpoint import load_model
from lilbench.training.config import TrainConfig
from lilbench.training.pipeline import ensure_checkpoint

ROOT = Path(__file__).resolve().parents[1]


def _earlier(rev: str) -> ModuleType:
    text = subprocess.run(
        ["git", "show", f"{rev}:lilbench/certify/bounds.py"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    path = Path(tempfile.mkdtemp()) / "earlier_bounds.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location("earlier_bounds", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["earlier_bounds"] = module
    spec.loader.exec_module(module)
    return module


def _best(
    certify: Callable[..., torch.Tensor], *args: object, repeat: int, norm: str
) -> tuple[int, float]:
    times, count = [], 0
    for _ in range(repeat):
        start = time.perf_counter()
        count = int(certify(*args, norm=norm).sum())
        times.append(time.perf_counter() - start)
    return count, min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs-dir", type=Path, default=Path("runs"))
    parser.add_argument("--before", default="2c39a00")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--beta", type=float, default=10.0)
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument("--eps", default="0.003,0.01")
    parser.add_argument("--methods", default="crown")
    parser.add_argument("--norm", default="inf")
    parser.add_argument("--together", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    trained = ensure_checkpoint(TrainConfig(beta=args.beta), runs_dir=args.runs_dir)
    data = load_dataset("mnist")
    model = load_model(trained.checkpoint.path, input_dim=data.input_dim)
    layers = model.layers()  # type: ignore[operator]
    chain = Chain.from_layers(layers)
    old = _earlier(args.before)
    old_chain = old.Chain.from_layers(layers)
    x = data.x_test[: args.limit].reshape(args.limit, -1).double()
    y = data.y_test[: args.limit]
    print(f"model {trained.checkpoint.path.name} (beta {args.beta:g}), {args.limit} test images")
    print(f"norm {args.norm}; one thread; best of {args.repeat}; earlier code: {args.before}")
    head = f"{'eps':>7} {'method':>12} {'count now':>10} {'before':>7} {'s now':>7} {'s before':>9}"
    print(head + f" {'before/now':>10}")
    rep = {"repeat": args.repeat}
    for eps in (float(e) for e in args.eps.split(",")):
        for method in args.methods.split(","):
            now, t_now = _best(certified, chain, x, y, eps, method, norm=args.norm, **rep)
            was, t_was = _best(old.certified, old_chain, x, y, eps, method, norm=args.norm, **rep)
            print(
                f"{eps:>7g} {method:>12} {now:>10} {was:>7} {t_now:>7.2f} {t_was:>9.2f} "
                f"{t_was / t_now:>10.2f}"
            )
        if args.together:
            methods = args.methods.split(",")
            start = time.perf_counter()
            certified_all(chain, x, y, eps, methods, norm=args.norm)
            t_now = time.perf_counter() - start
            start = time.perf_counter()
            for method in methods:
                old.certified(old_chain, x, y, eps, method, norm=args.norm)
            t_was = time.perf_counter() - start
            print(
                f"{eps:>7g} {'all, shared':>12} {'':>10} {'':>7} {t_now:>7.2f} {t_was:>9.2f} "
                f"{t_was / t_now:>10.2f}"
            )


if __name__ == "__main__":
    main()
