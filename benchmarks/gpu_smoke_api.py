"""Part of benchmarks/gpu_smoke.sh: lilbench.evaluate on a module on the device and on the
CPU, and an exported softmax model through the model checks. Prints PASS/FAIL lines."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

import lilbench
from lilbench.data import load_dataset


def line(ok: bool, name: str, detail: str) -> None:
    print(f"{'PASS' if ok else 'FAIL'}\t{name}\t{detail}", flush=True)


def net(softmax: bool = False) -> nn.Module:
    torch.manual_seed(0)
    layers: list[nn.Module] = [nn.Flatten(), nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 10)]
    if softmax:
        layers.append(nn.Softmax(dim=1))
    return nn.Sequential(*layers)


def main(dev: str, work: Path, limit: int) -> int:
    data = load_dataset("mnist")
    model = net()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for i in range(0, 5000, 100):
        opt.zero_grad()
        F.cross_entropy(model(data.x_train[i : i + 100]), data.y_train[i : i + 100]).backward()
        opt.step()
    on_device = net()
    on_device.load_state_dict(model.state_dict())
    on_device = on_device.to(dev)
    attacks = [{"name": "fgsm", "eps": [0.05, 0.1]}]
    got = {}
    for label, m in (("device module", on_device), ("CPU module", model)):
        before = next(m.parameters()).device
        r = lilbench.evaluate(
            m, attacks=attacks, test_limit=limit, device=dev, runs_dir=work / "api"
        )
        got[label] = [p.accuracy for p in r.points]
        line(
            r.passed and next(m.parameters()).device == before,
            f"evaluate({label}, device={dev})",
            f"accuracies {got[label]}; module stayed on {before}",
        )
    line(got["device module"] == got["CPU module"], "evaluate: same numbers for both", str(got))
    soft = net(softmax=True).eval()
    batch = {"input": {0: torch.export.Dim("batch")}}
    program = torch.export.export(soft, (torch.rand(2, 1, 28, 28),), dynamic_shapes=batch)
    path = work / "softmax.pt2"
    torch.export.save(program, str(path))
    done = subprocess.run(
        [sys.executable, "-m", "lilbench", "attack", "fgsm", "--model", str(path), "--eps", "0.1",
         "--test-limit", str(limit), "--device", dev, "--runs-dir", str(work / "soft")],
        capture_output=True, text=True,
    )  # fmt: skip
    named = "eval mode, logits out" in done.stdout + done.stderr
    line(
        done.returncode == 0 and named and "Traceback" not in done.stderr,
        "softmax model: the logits check fails by name",
        f"exit {done.returncode}",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])))
