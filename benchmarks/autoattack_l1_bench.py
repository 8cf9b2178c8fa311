"""AutoAttack in L1 (issue 49): lilbench's members against the reference implementations this
machine can run, side by side, one torch thread, the paper MLP (beta 1, seed 0), the first
500 MNIST test images.

    python benchmarks/autoattack_l1_bench.py [--eps 2,4] [--limit 500] [--official PATH]

1. FAB-T in L1: lilbench's member (9 targets, 100 iterations each, each target on the images
   still robust) against torchattacks' FAB (`pip install torchattacks`: its port of the
   official FAB, norm "L1"), run target by target as AutoAttack runs FAB-T (torchattacks'
   own `perturb` checks the radius in L-inf and L2 only, so the radius check is done here:
   misclassified and within eps in L1). Robust counts and seconds.
2. lilbench's standard AutoAttack in L1 (APGD-CE 5 restarts, APGD-T 5 targets, FAB-T,
   Square): robust count, and per member the images broken and the seconds.
3. With --official PATH, a checkout of fra31/auto-attack (pip cannot fetch it offline): the
   official AutoAttack(norm='L1', version='standard') on the same images and seed, its
   robust count and seconds beside lilbench's, and the ratio.
4. With --official-members PATH, a folder holding the official `autoattack/autopgd_base.py`
   (a checkout, or that file alone; where the official L1 Square is not at hand): the
   official APGD-CE (5 restarts) and APGD-T (5 targets) in L1 with the large-radius
   schedule, then torchattacks' FAB-T (9 targets), each on the images still robust as
   `run_standard_evaluation` runs them; the images robust under one side only, and the
   seconds of the same three members on both sides.

Trains (and caches in runs/) the model if it is not there.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

import lilbench
from lilbench.attacks.kernels import fab
from lilbench.attacks.kernels.autoattack import MemberLog, standard_autoattack, wrong_classes
from lilbench.data import load_dataset
from lilbench.runtime import keep_freed_memory
from lilbench.training.config import TrainConfig
from lilbench.training.pipeline import ensure_checkpoint

TARGETS = 9


def _robust(model: nn.Module, adv: torch.Tensor, x: torch.Tensor, y: torch.Tensor, eps: float):
    """Images correctly classified at adv, or whose adv lies outside the L1 ball."""
    with torch.no_grad():
        right = model(adv).argmax(1) == y
    outside = (adv - x).reshape(len(x), -1).double().abs().sum(1) > eps * (1 + 1e-6)
    return right | outside


def lilbench_fab_t(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float) -> int:
    with torch.no_grad():
        robust = model(x).argmax(1) == y
    order = wrong_classes(model, x, y, TARGETS)
    for k in range(TARGETS):
        idx = robust.nonzero()[:, 0]
        if not len(idx):
            break
        found, _ = fab.fab_targeted(model, x[idx], y[idx], order[idx, k], norm="1")
        robust[idx] = _robust(model, found, x[idx], y[idx], eps)
    return int(robust.sum())


def torchattacks_fab_t(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float) -> int:
    import torchattacks

    images = nn.Sequential(nn.Unflatten(1, (1, 28, 28)))
    net = nn.Sequential(nn.Flatten(), model).eval()
    attack = torchattacks.FAB(
        net, norm="L1", eps=eps, steps=100, n_restarts=1, multi_targeted=True, n_classes=10
    )
    attack.device = x.device
    with torch.no_grad():
        robust = model(x).argmax(1) == y
    for k in range(2, TARGETS + 2):  # the k-th largest logit: the (k-1)-th wrong class
        idx = robust.nonzero()[:, 0]
        if not len(idx):
            break
        attack.target_class = k
        found = attack.attack_single_run_targeted(images(x[idx]), y[idx]).reshape(len(idx), -1)
        robust[idx] = _robust(model, found, x[idx], y[idx], eps)
    return int(robust.sum())


def official(path: Path, model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float) -> int:
    sys.path.insert(0, str(path))
    from autoattack import AutoAttack  # type: ignore[import-not-found]

    net = nn.Sequential(nn.Flatten(), model).eval()
    aa = AutoAttack(net, norm="L1", eps=eps, version="standard", seed=0, device="cpu")
    aa.verbose = False
    adv = aa.run_standard_evaluation(x.reshape(-1, 1, 28, 28), y, bs=len(x))
    return int(_robust(model, adv.reshape(len(x), -1), x, y, eps).sum())


def official_members(
    path: Path, model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float
) -> tuple[torch.Tensor, dict[str, float]]:
    """(robust per image, seconds per member) of the official L1 APGD members and
    torchattacks' FAB-T, in AutoAttack's order."""
    import torchattacks

    sys.path.insert(0, str(path))
    from autoattack.autopgd_base import (  # type: ignore[import-not-found]
        APGDAttack,
        APGDAttack_targeted,
    )

    net = nn.Sequential(nn.Flatten(), model).eval()
    images = x.reshape(len(x), 1, 28, 28)
    common = {"n_iter": 100, "eps": eps, "norm": "L1", "seed": 0, "device": "cpu"}
    apgd = APGDAttack(net, n_restarts=5, use_largereps=True, **common)
    apgd.loss = "ce"
    apgd_t = APGDAttack_targeted(
        net, n_restarts=1, use_largereps=True, n_target_classes=5, **common
    )
    fab_t = torchattacks.FAB(
        net, norm="L1", eps=eps, steps=100, n_restarts=1, multi_targeted=True, n_classes=10
    )
    fab_t.device = x.device
    with torch.no_grad():
        robust = net(images).argmax(1) == y
    seconds: dict[str, float] = {}

    def member(name: str, run: Any) -> None:
        idx = robust.nonzero()[:, 0]
        if not len(idx):
            return
        t0 = time.perf_counter()
        found = run(images[idx], y[idx]).reshape(len(idx), -1)
        robust[idx] = _robust(model, found, x[idx], y[idx], eps)
        seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - t0

    member("apgd-ce", apgd.perturb)
    member("apgd-t", apgd_t.perturb)
    for k in range(2, TARGETS + 2):  # the k-th largest logit: the (k-1)-th wrong class
        fab_t.target_class = k
        member("fab-t", fab_t.attack_single_run_targeted)
    return robust, seconds


def timed(fn, *args):  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--eps", default="2,4", help="comma-separated L1 radii")
    ap.add_argument("--limit", type=int, default=500)
    ap.add_argument("--runs", type=Path, default=Path("runs"))
    ap.add_argument("--official", type=Path, default=None, help="a fra31/auto-attack checkout")
    ap.add_argument(
        "--official-members",
        type=Path,
        default=None,
        help="a folder with the official autoattack/autopgd_base.py (its L1 APGD members)",
    )
    args = ap.parse_args()
    torch.set_num_threads(1)
    keep_freed_memory()
    data = load_dataset("mnist")
    x, y = data.x_test[: args.limit].reshape(args.limit, -1), data.y_test[: args.limit]
    model = lilbench.load_model(
        ensure_checkpoint(TrainConfig(beta=1.0), runs_dir=args.runs).checkpoint.path
    )
    with torch.no_grad():
        clean = int((model(x).argmax(1) == y).sum())
    print(f"torch {torch.__version__}, 1 thread, {len(x)} test images, {clean} classified right")
    for eps in (float(e) for e in args.eps.split(",")):
        ours, t_ours = timed(lilbench_fab_t, model, x, y, eps)
        try:
            theirs, t_theirs = timed(torchattacks_fab_t, model, x, y, eps)
            ref = (
                f"torchattacks {theirs} robust in {t_theirs:.1f} s (ratio {t_theirs / t_ours:.1f}x)"
            )
        except ImportError:
            ref = "torchattacks is not installed (pip install torchattacks)"
        print(f"L1 eps {eps:g}  FAB-T: lilbench {ours} robust in {t_ours:.1f} s; {ref}")
        log = MemberLog()
        adv, t_aa = timed(
            lambda e=eps, lg=log: standard_autoattack(
                model, x, y, eps=e, shape=(1, 28, 28), seed=0, log=lg, norm="1"
            )
        )
        with torch.no_grad():
            left = int((model(adv).argmax(1) == y).sum())
        members = ", ".join(
            f"{k} {log.broken.get(k, 0)} broken in {log.seconds[k]:.1f} s" for k in log.seconds
        )
        print(f"  AutoAttack L1 (lilbench): {left} robust in {t_aa:.1f} s ({members})")
        if args.official is not None:
            theirs, t_off = timed(official, args.official, model, x, y, eps)
            print(
                f"  AutoAttack L1 (official): {theirs} robust in {t_off:.1f} s; lilbench leaves "
                f"{left - theirs:+d} images more robust, {t_off / t_aa:.1f}x faster"
            )
        else:
            print("  official AutoAttack: not run (--official PATH: a fra31/auto-attack checkout)")
        if args.official_members is not None:
            with torch.no_grad():
                ours_robust = model(adv).argmax(1) == y
            (theirs_robust, secs), t_off = timed(
                official_members, args.official_members, model, x, y, eps
            )
            same = sum(log.seconds.get(k, 0.0) for k in ("apgd-ce", "apgd-t", "fab-t"))
            parts = ", ".join(f"{k} {v:.1f} s" for k, v in secs.items())
            print(
                f"  official APGD-CE/APGD-T + torchattacks FAB-T: {int(theirs_robust.sum())} "
                f"robust in {t_off:.1f} s ({parts}); robust under lilbench only "
                f"{int((ours_robust & ~theirs_robust).sum())}, under the official members only "
                f"{int((theirs_robust & ~ours_robust).sum())}; the same three members "
                f"{t_off / same:.1f}x faster in lilbench ({same:.1f} s)"
            )


if __name__ == "__main__":
    main()
