"""Your own model in lilbench: a small convolutional MNIST classifier defined here (not in
lilbench), trained for one epoch, saved with torch.export, then attacked twice:

1. from the command line: `lilbench attack fgsm --model FILE` and `... autoattack --model FILE`
2. from Python, on the module in memory: `lilbench.evaluate(module, ...)`

and the two give the same numbers.

    python examples/own_model.py [--out /tmp/own-model] [--train-limit 60000] [--test-limit 100]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

import lilbench
from lilbench.data import load_dataset


class SmallConvNet(nn.Module):
    """(N, 1, 28, 28) pixels in [0, 1] -> 10 logits."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.fc = nn.Linear(32 * 7 * 7, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc(x.flatten(1))


def train_one_epoch(model: nn.Module, limit: int, seed: int) -> None:
    data = load_dataset("mnist")  # lilbench's offline MNIST: flat [n, 784] in [0, 1]
    x = data.x_train[:limit].reshape(-1, 1, 28, 28)
    y = data.y_train[:limit]
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    model.train()
    for i in range(0, len(x), 100):
        idx = order[i : i + 100]
        opt.zero_grad()
        F.cross_entropy(model(x[idx]), y[idx]).backward()
        opt.step()
    model.eval()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("/tmp/own-model"))
    ap.add_argument("--train-limit", type=int, default=60000)
    ap.add_argument("--test-limit", type=int, default=100)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    model = SmallConvNet()
    train_one_epoch(model, args.train_limit, seed=0)
    example = (torch.rand(2, 1, 28, 28),)
    batch = {"x": {0: torch.export.Dim("batch")}}  # attacks send batches of any size
    path = args.out / "small-conv.pt2"
    torch.export.save(torch.export.export(model, example, dynamic_shapes=batch), str(path))
    runs = args.out / "runs"

    # 1. The command line, on the exported file.
    cli = [str(Path(sys.executable).with_name("lilbench")), "attack"]
    common = ["--model", str(path), "--test-limit", str(args.test_limit), "--runs-dir", str(runs)]
    by_cli = {}
    for attack, extra in (("fgsm", ["--eps", "0.05,0.1,0.2"]), ("autoattack", ["--eps", "0.1"])):
        done = subprocess.run([*cli, attack, *common, *extra, "--json"], check=True, stdout=-1)
        record = json.loads(done.stdout)
        by_cli[attack] = [(p["eps"], p["correct"]) for p in record["points"]]
        print(f"CLI {attack}: {by_cli[attack]}; checks passed: {record['passed']}")

    # 2. Python, on the module in memory (a different runs entry: its identity is the module's).
    result = lilbench.evaluate(
        model,
        dataset="mnist",
        attacks=[{"name": "fgsm", "eps": [0.05, 0.1, 0.2]}, {"name": "autoattack", "eps": [0.1]}],
        test_limit=args.test_limit,
        seed=0,
        runs_dir=runs,
    )
    by_api: dict[str, list[tuple[float, int]]] = {}
    for p in result:
        by_api.setdefault(p.attack, []).append((p.eps, p.correct))
    print(f"API: {by_api}; failed checks: {list(result.failed_checks) or 'none'}")
    same = by_api == by_cli
    print(f"CLI and API agree: {same}")
    if not same or not result.passed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
