"""A runs directory shared by processes: each item computed once; a killed run resumes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from helpers import assert_every_record_passed

TINY = """name: tiny
train: {epochs: 1, limit: 800, width: 16, depth: 1}
betas: [0, 1]
seeds: [0]
test_limit: 60
attacks:
  - {name: fgsm, eps: [0.05, 0.1]}
  - {name: pgd, eps: [0.1], steps: 5, step: [0.02, 0.05]}
"""
ITEMS = 6  # 2 models x (training + 2 attacks)


def _start(suite: Path, runs: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.Popen(
        [sys.executable, "-m", "lilbench", "run", str(suite), "--runs-dir", str(runs)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )


def _numbers(runs: Path) -> dict[str, list[float]]:
    out = {}
    for path in sorted(runs.glob("attacks/*/*.json")):
        rec = json.loads(path.read_text())
        # Named by the model's config and the attack: a record's own file name also hashes
        # the weights file, whose header stores the training time.
        out[f"{path.parent.name}/{rec['label']}"] = [p["accuracy"] for p in rec["points"]]
    return out


def _stored(runs: Path) -> list[Path]:
    """What a run has stored under final names: checkpoints and attack records."""
    return [*runs.glob("models/*/model.safetensors"), *runs.glob("attacks/*/*.json")]


def test_two_concurrent_runs_compute_every_item_once(tmp_path: Path) -> None:
    suite = tmp_path / "tiny.yaml"
    suite.write_text(TINY)
    runs = tmp_path / "runs"
    procs = [_start(suite, runs), _start(suite, runs)]
    outputs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    lines = [line.strip() for _, err in outputs for line in err.splitlines()]
    done = [line for line in lines if line.startswith("done")]
    reused = [line for line in lines if line.startswith("reused")]
    assert len(done) == ITEMS and len(reused) == ITEMS, lines
    assert len(set(done)) == ITEMS  # each item computed by exactly one of the two
    assert len(list(runs.glob("models/*/model.safetensors"))) == 2
    assert len(list(runs.glob("attacks/*/*.json"))) == 4
    assert assert_every_record_passed(runs) == 4


def test_killed_run_resumes_to_identical_numbers(tmp_path: Path) -> None:
    suite = tmp_path / "tiny.yaml"
    suite.write_text(TINY)
    clean = tmp_path / "clean"
    assert _start(suite, clean).wait(timeout=300) == 0
    killed = tmp_path / "killed"
    proc = _start(suite, killed)
    assert proc.stderr is not None
    seen = []
    for line in proc.stderr:  # killed as soon as the first item reports done
        seen.append(line)
        if line.strip().startswith("done"):
            os.killpg(proc.pid, signal.SIGKILL)
            break
    assert proc.wait(timeout=60) == -signal.SIGKILL, seen
    # a partial runs directory: some items stored, not all
    stored = len(_stored(killed))
    assert 1 <= stored < ITEMS, (stored, seen)
    assert _start(suite, killed).wait(timeout=300) == 0
    assert len(_stored(killed)) == ITEMS
    assert _numbers(killed) == _numbers(clean) and len(_numbers(clean)) == 4
    assert assert_every_record_passed(killed) == 4
    # Nothing half-written is left under a final name, and no lock holds anything.
    assert not [p for p in killed.rglob("*") if p.name.endswith(".tmp")]
