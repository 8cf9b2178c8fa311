"""The checks behind benchmarks/gpu_smoke.sh (run that): the GPU path end to end, each
check one line, compared with the CPU where the numbers should agree.

1. training twice on the device gives the same tensors (hash of the weights);
2. every attack kind with --strict on the device and on the CPU: every check passes, and the
   accuracies agree within 2 images;
3. a small suite with --workers 1, --workers 2 and on a local Ray: the same weights and
   numbers however scheduled;
4. a convolutional LIL trained twice: the same tensors;
5. lilbench.evaluate on a module on the device and on one on the CPU: the same numbers, the
   caller's modules left where they were;
6. an exported softmax model through the model checks: the logits check fails by name.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS: list[tuple[bool, str, str]] = []


def report(ok: bool, name: str, detail: str) -> None:
    RESULTS.append((ok, name, detail))
    print(f"{'PASS' if ok else 'FAIL'} {name}: {detail}", flush=True)


def cli(*args: str) -> tuple[int, str, str]:
    done = subprocess.run(
        [sys.executable, "-m", "lilbench", *args], capture_output=True, text=True, timeout=500
    )
    return done.returncode, done.stdout, done.stderr


def tensors(checkpoint: str) -> str:
    return str(json.loads((Path(checkpoint) / "meta.json").read_text())["tensors_sha256"])


def train(runs: Path, device: str, *extra: str) -> dict:
    code, out, err = cli("train", "--runs-dir", str(runs), "--device", device, "--json", *extra)
    if code != 0:
        raise RuntimeError(f"train failed: {err.strip()[-300:]}")
    return json.loads(out)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--quick", action="store_true", help="tiny sizes (the CPU dry run)")
    ap.add_argument("--out", type=Path, default=None)
    a = ap.parse_args()
    dev = a.device
    work = Path(a.out or tempfile.mkdtemp(prefix="gpu-smoke-"))
    small = ["--train-limit", "1000" if a.quick else "20000", "--epochs", "1"]
    limit = "50" if a.quick else "500"
    t0 = time.time()

    # 1. training twice
    one = train(work / "t1", dev, *small)
    two = train(work / "t2", dev, *small)
    h1, h2 = tensors(one["checkpoint"]), tensors(two["checkpoint"])
    report(h1 == h2, "train twice, same tensors", f"{h1[:12]} vs {h2[:12]} on {dev}")
    cpu = one if dev == "cpu" else train(work / "tc", "cpu", *small)
    report(
        True,
        "train on the device vs the CPU (information)",
        f"clean {one['metrics']['clean_test_accuracy']:.4f} vs "
        f"{cpu['metrics']['clean_test_accuracy']:.4f}; separate checkpoints: "
        f"{one['config_hash'][:12] != cpu['config_hash'][:12] or dev == 'cpu'}",
    )

    # 2. every attack kind, strict, on the device and on the CPU (the same CPU weights)
    attacks = {
        "fgsm": ["--eps", "0.05,0.1"],
        "pgd": ["--eps", "0.05,0.1", "--restarts", "1"],
        "apgd": ["--eps", "0.1"],
        "square": ["--eps", "0.1", "--max-iter", "50" if a.quick else "500"],
        "autoattack": ["--eps", "0.1"],
        "apgd-search": ["--eps", "0.01,0.1", "--levels", "3"],
    }
    for name, extra in attacks.items():
        accs = {}
        for where in dict.fromkeys((dev, "cpu")):  # once when the device is the CPU
            code, out, err = cli(
                "attack", name, "--checkpoint", cpu["checkpoint"], "--runs-dir",
                str(work / f"a-{where}"), "--device", where, "--test-limit", limit, "--strict",
                "--json", *extra,
            )  # fmt: skip
            if code != 0:
                report(False, f"attack {name} --strict on {where}", err.strip()[-200:])
                break
            rec = json.loads(out)
            accs[where] = [
                p["accuracy"] for p in rec.get("points", rec.get("record", {}).get("points", []))
            ]
        else:
            n = int(limit)
            pairs = zip(accs[dev], accs["cpu"], strict=True)
            close = all(abs(x - y) * n <= 2 for x, y in pairs)
            report(close, f"attack {name} --strict, device vs CPU", f"{accs[dev]} vs {accs['cpu']}")

    # 3. a small suite, scheduled three ways
    suite = work / "smoke.yaml"
    suite.write_text(
        "name: smoke\ntrain: {epochs: 1, limit: 1000, width: 32, depth: 2}\nbetas: [0, 1]\n"
        f"seeds: [0]\ntest_limit: {limit}\ndevice: {dev}\nattacks:\n"
        "  - {name: fgsm, eps: [0.05, 0.1]}\n  - {name: pgd, eps: [0.1], steps: 5, restarts: 1}\n"
    )
    outcomes = {}
    for label, args in (
        ("workers 1", ["--workers", "1"]),
        ("workers 2", ["--workers", "2"]),
        ("ray", ["--executor", "ray", "--workers", "2"]),
    ):
        runs = work / f"s-{label.replace(' ', '')}"
        code, out, err = cli("run", str(suite), "--runs-dir", str(runs), "--json", *args)
        if code != 0:
            report(False, f"suite with {label}", err.strip()[-200:])
            continue
        got = json.loads(out)["results"]
        outcomes[label] = sorted(
            (
                r["setting"],
                tensors(r["checkpoint"]),
                {k: [p["correct_bits"] for p in v["points"]] for k, v in r["attacks"].items()},
            )
            for r in got
        )
    if outcomes:
        first = next(iter(outcomes.values()))
        same = all(v == first for v in outcomes.values())
        report(same, "suite: same numbers however scheduled", ", ".join(outcomes))

    # 4. a convolutional LIL twice
    conv = ["--conv", "small", "--width", "32", "--depth", "1", *small]
    c1, c2 = train(work / "c1", dev, *conv), train(work / "c2", dev, *conv)
    report(
        tensors(c1["checkpoint"]) == tensors(c2["checkpoint"]),
        "conv LIL trained twice, same tensors",
        f"clean {c1['metrics']['clean_test_accuracy']:.4f}",
    )

    # 5 and 6: the Python API, and a softmax model through the model checks
    api = str(Path(__file__).with_name("gpu_smoke_api.py"))
    code = subprocess.run(
        [sys.executable, api, dev, str(work), limit], capture_output=True, text=True, timeout=300
    )
    for line in code.stdout.splitlines():
        ok, name, detail = line.split("\t")
        report(ok == "PASS", name, detail)
    if code.returncode not in (0, 1):
        report(False, "API checks", code.stderr.strip()[-300:])

    failed = [r for r in RESULTS if not r[0]]
    print(f"summary: {len(RESULTS) - len(failed)}/{len(RESULTS)} passed on {dev} in "
          f"{time.time() - t0:.0f} s; work in {work}")  # fmt: skip
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
