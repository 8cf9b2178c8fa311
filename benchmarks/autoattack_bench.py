"""The standard AutoAttack: ART's members (lilbench before, no FAB-T) against lilbench's own
(with FAB-T), side by side in one run, one torch thread, the first 1,000 MNIST test images.

    python benchmarks/autoattack_bench.py [--job lil|pgd-at|lil-l2|all] [--limit 1000]
        [--threads 1] [--members] [--floor]

Job "lil": the paper MLP at beta = 1 (seed 0), eps 0.03 and 0.1. Job "pgd-at": Madry PGD-AT
at eps 0.1 (seed 0), eps 0.1. Job "lil-l2": the same beta = 1 model under the L2 version
(norm 2) at L2 eps 0.5 and 1, ART's L2 members against lilbench's. Both paths run through
`lilbench.attacks.runner` (every check), the ART path as `autoattack engine=art` (APGD-CE,
APGD-T, Square), the fast one as the default. Prints the attacks' seconds (the checks and the
indicators of attack failure, the same work for both paths, timed apart), the ratio, the
robust accuracy and the forward/backward passes per image of each path per eps, the fast
path's members (seconds, passes, images broken, from the record), and the members' share of
the fast path's time with --members (a separate call of the engine), and with --floor the
time Square's forward passes take alone (what no Square with the same queries can undercut).
Trains (and caches in runs/) the two models if they are not there.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

import lilbench
from lilbench.attacks import AutoAttackSpec
from lilbench.attacks.kernels.autoattack import MemberLog, standard_autoattack
from lilbench.attacks.runner import run_attack
from lilbench.data import load_dataset
from lilbench.runtime import keep_freed_memory
from lilbench.training.config import TrainConfig
from lilbench.training.pipeline import ensure_checkpoint

JOBS = {
    "lil": (TrainConfig(beta=1.0), (0.03, 0.1), "inf"),
    "pgd-at": (TrainConfig(objective="pgd-at", objective_params={"eps": 0.1}), (0.1,), "inf"),
    "lil-l2": (TrainConfig(beta=1.0), (0.5, 1.0), "2"),
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--job", choices=[*JOBS, "both", "all"], default="all")
    ap.add_argument("--limit", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--runs", type=Path, default=Path("runs"))
    ap.add_argument("--members", action="store_true", help="also time each member (reruns)")
    ap.add_argument(
        "--floor",
        action="store_true",
        help="also time Square's forward passes alone (what no Square with its queries undercuts)",
    )
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    keep_freed_memory()  # as every lilbench process (the same for both paths)
    data = load_dataset("mnist")
    x, y = data.x_test[: args.limit], data.y_test[: args.limit]
    print(f"torch {torch.__version__}, {args.threads} thread(s), {len(x)} test images")
    chosen = {"all": list(JOBS), "both": ["lil", "pgd-at"]}.get(args.job, [args.job])
    for job in chosen:
        config, eps, norm = JOBS[job]
        model = lilbench.load_model(ensure_checkpoint(config, runs_dir=args.runs).checkpoint.path)
        times: dict[str, float] = {}
        robust: dict[str, list[int]] = {}
        for engine in ("art", "lilbench"):
            spec = AutoAttackSpec(eps=eps, engine=engine, norm=norm)
            t0 = time.perf_counter()
            out = run_attack(model, spec, x, y, num_classes=10, seed=0)
            wall = time.perf_counter() - t0
            # the attacks alone: the checks and the indicators' probes are the same work
            # for both paths, and are timed apart
            times[engine] = float(out.timings["attack_seconds"])
            robust[engine] = [p.correct for p in out.points]
            failed = [c.name for c in out.checks if not c.passed]
            work = [
                f"{p.passes['forward']:.0f}/{p.passes['backward']:.0f}" if p.passes else "-"
                for p in out.points
            ]
            print(
                f"  {job} {engine:8s} {times[engine]:7.1f} s attacks ({wall:.1f} s with checks "
                f"and indicators)  robust {robust[engine]}  forward/backward passes per "
                f"image {work}" + (f"  FAILED CHECKS: {failed}" if failed else "")
            )
            for p in out.points if engine == "lilbench" else ():
                if args.floor and p.members and "square" in p.members:
                    print(f"    {square_floor(model, x, p.correct, p.members['square'])}")
                parts = ", ".join(
                    f"{k} {m['seconds']:.1f} s {m.get('forward', 0):.0f}/"
                    f"{m.get('backward', 0):.0f} passes ({m['broken']:.0f} broken)"
                    for k, m in (p.members or {}).items()
                )
                print(f"    members at eps {p.eps:g}: {parts}")
        print(
            f"{job}: ART path {times['art']:.1f} s, lilbench {times['lilbench']:.1f} s, "
            f"ratio {times['art'] / times['lilbench']:.2f}x (4.5x would be "
            f"{times['art'] / 4.5:.1f} s); robust (of {len(x)}) at eps "
            f"{list(eps)}: ART {robust['art']}, lilbench {robust['lilbench']}"
        )
        for e in eps if args.members else ():
            log = MemberLog()
            standard_autoattack(model, x, y, eps=e, shape=(1, 28, 28), seed=0, log=log, norm=norm)
            parts = ", ".join(
                f"{k} {log.seconds[k]:.1f} s ({log.broken[k]} broken)" for k in log.seconds
            )
            print(f"  members at eps {e}: {parts}")


def square_floor(model: torch.nn.Module, x: torch.Tensor, robust: int, member: dict) -> str:
    """Square's forward passes alone: its recorded rows, run as batches of the images it
    attacked (those robust at the end plus those it broke), with nothing else. No Square
    making the same queries can cost less, so this bounds what a faster one could save."""
    rows = int(member.get("forward", 0)) * len(x)
    n = max(robust + int(member["broken"]), 1)
    batch = x[:n].reshape(n, -1)
    with torch.no_grad():
        t0 = time.perf_counter()
        for _ in range(rows // n):
            model(batch)
        floor = time.perf_counter() - t0
    return (
        f"square: {rows // n} forward passes of {n} images alone {floor:.1f} s "
        f"(the member took {member['seconds']:.1f} s)"
    )


if __name__ == "__main__":
    main()
