"""A model family is one file: a throwaway family written to a temporary file (its parameters,
its declaration and its torch module together) is registered by importing that file, and then
trained by `lilbench train`, attacked by `lilbench attack fgsm` and refused by `certify` as its
own declaration says, with no other file touched."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

FAMILY = """
from typing import Any

import torch
from pydantic import Field
from torch import nn

from lilbench.models.family import FAMILIES, DataShape, LevelOutput, ModelFamily, ModelParams


class SquashParams(ModelParams):
    hidden: int = Field(16, ge=1, description="Hidden units.")
    squash: float = Field(0.5, gt=0, description="Scale of the hidden tanh (throwaway).")


class SquashNet(nn.Module):
    def __init__(self, spec: dict[str, Any]) -> None:
        super().__init__()
        self.spec = type("Spec", (), {"to_dict": lambda s: dict(spec), **spec})()
        self.inner = nn.Linear(spec["input_dim"], spec["hidden"])
        self.head = nn.Linear(spec["hidden"], spec["num_classes"])

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.inner(x)) * self.spec.squash

    def forward_with_features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        phi = self.features(x)
        return self.head(phi), phi

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_with_features(x)[0]

    def levels(self, x: torch.Tensor) -> list[LevelOutput]:
        logits, phi = self.forward_with_features(x)
        return [LevelOutput(logits, phi, x)]

    def layers(self) -> list[nn.Module]:
        return [self.inner, nn.Tanh(), self.head]


@FAMILIES.register("squash")
class Squash(ModelFamily):
    name = "squash"
    params_type = SquashParams
    architecture = "SquashNet"
    certify_refusal = "cannot bound a squashed tanh (throwaway family's own declaration)"

    @classmethod
    def build(cls, params: ModelParams, data: DataShape) -> nn.Module:
        spec = {**params.model_dump(), "input_dim": data.input_dim,
                "num_classes": data.level_classes[-1]}
        return SquashNet(spec)

    @classmethod
    def from_architecture(cls, arch: dict[str, Any]) -> nn.Module:
        return SquashNet(arch)
"""

DRIVER = """
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("squash_family", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
from lilbench.cli import main
codes = []
for args in json.loads(sys.argv[2]):
    try:
        main(args)
        codes.append(0)
    except SystemExit as exc:
        codes.append(int(exc.code or 0))
    print("@@CODE", codes[-1], flush=True)
"""


def test_a_throwaway_model_family_in_one_file(tmp_path: Path) -> None:
    family = tmp_path / "squash_family.py"
    family.write_text(FAMILY)
    runs = str(tmp_path / "runs")
    model = ["--model", "squash", "--squash", "0.75", "--train-limit", "300", "--epochs", "1"]
    calls = [
        ["train", "--help"],
        ["train", *model, "--runs-dir", runs, "--json"],
        # `attack` has a --model of its own (a user's classifier): the family is --train-model.
        [
            "attack",
            "fgsm",
            "--train-model",
            *model[1:],
            "--eps",
            "0.1",
            "--test-limit",
            "100",
            "--runs-dir",
            runs,
            "--json",
        ],
        # certify, like attack, takes --model for a user's file: the family is --train-model
        ["certify", "--train-model", *model[1:], "--test-limit", "50", "--runs-dir", runs],
        ["train", "--model", "mlp", "--squash", "0.75", "--runs-dir", runs],
    ]
    env = {**os.environ, "COLUMNS": "200"}
    done = subprocess.run(
        [sys.executable, "-c", DRIVER, str(family), json.dumps(calls)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    codes = [int(line.split()[1]) for line in done.stdout.splitlines() if line.startswith("@@CODE")]
    assert codes == [0, 0, 0, 2, 2], done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    assert "--squash" in out and "Scale of the hidden tanh" in out  # its option, its help
    segments = out.split("@@CODE")  # each call's stdout ends at its marker
    trained = json.loads(segments[1].split("\n", 1)[1])
    assert trained["config"]["model"] == "squash"
    assert trained["config"]["model_params"] == {"hidden": 16, "squash": 0.75}
    assert 0.1 < trained["metrics"]["clean_test_accuracy"] <= 1.0
    attacked = json.loads(segments[2].split("\n", 1)[1])
    assert attacked["passed"] and attacked["points"][0]["n"] == 100
    assert attacked["points"][0]["accuracy"] <= attacked["clean"]["accuracy"]
    errors = [line for line in done.stderr.splitlines() if line.strip()]
    assert any("cannot bound a squashed tanh" in line for line in errors)
    assert any("squash is not a parameter of model family mlp" in line for line in errors)
    assert "Traceback" not in done.stderr


SHIFT = '''
from dataclasses import dataclass
from typing import Any, ClassVar

from lilbench.attacks.base import ATTACKS, EpsGridAttack


@ATTACKS.register("shift")
@dataclass(frozen=True, kw_only=True)
class Shift(EpsGridAttack):
    """Every pixel raised by eps (a throwaway plugin's attack)."""

    name: ClassVar[str] = "shift"

    def generate(self, ctx: Any, point: Any, rows: slice) -> Any:
        x, _ = ctx.tensors(rows)
        return (x + point.eps).clamp(0, 1).cpu()
'''

SUITE = """
name: plugin-suite
betas: [0]
attacks:
  - name: shift
    eps: [0.1, 0.2]
"""

PROBE = """
import sys
from lilbench.cli import main
from lilbench.suites import load_suite
try:
    main(["attack", "--help"])
except SystemExit as exc:
    print("@@HELP", exc.code)
print("@@SUITE", [a.label for a in load_suite(sys.argv[1]).attacks])
"""


def _distribution(site: Path, name: str, entry: str, module: str | None = None) -> None:
    """A distribution as pip installs one: its package and its .dist-info (metadata and the
    entry points), in a folder on the path."""
    if module is not None:
        (site / name).mkdir(parents=True)
        (site / name / "__init__.py").write_text("")
        (site / name / "shift.py").write_text(module)
    info = site / f"{name}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[lilbench.plugins]\n{name} = {entry}\n")


def test_an_installed_distribution_registers_its_attack_by_entry_point(tmp_path: Path) -> None:
    """Issue 50: a third party's attack, declared under the `lilbench.plugins` entry-point
    group of an installed distribution, is in `lilbench attack --help` and in a suite, with
    no import driver; a plugin that cannot be imported is one line naming it, exit 2."""
    site = tmp_path / "site"
    _distribution(site, "lbplug", "lbplug.shift:Shift", SHIFT)
    suite = tmp_path / "plugin-suite.yaml"
    suite.write_text(SUITE)
    env = {**os.environ, "PYTHONPATH": str(site), "COLUMNS": "200"}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(suite)], capture_output=True, text=True, env=env
    )
    assert "@@HELP 0" in done.stdout, done.stdout + done.stderr
    assert "shift" in done.stdout and "Every pixel raised by eps" in done.stdout
    assert "@@SUITE ['shift']" in done.stdout
    without = {**os.environ, "COLUMNS": "200"}
    bare = subprocess.run(
        [sys.executable, "-c", PROBE, str(suite)], capture_output=True, text=True, env=without
    )
    assert "Every pixel raised" not in bare.stdout and "unknown attack 'shift'" in bare.stderr
    _distribution(site, "lbbroken", "lbbroken_missing.module")
    broken = subprocess.run(
        [sys.executable, "-m", "lilbench", "attack", "--help"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert broken.returncode == 2
    lines = [line for line in broken.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "plugin 'lbbroken' of lbbroken" in lines[0], broken.stderr
    assert "failed to import" in lines[0] and "Traceback" not in broken.stderr


HELP_WITHOUT_TORCH = """
import contextlib, io, json, sys


class NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("torch is blocked while --help runs")
        return None


sys.meta_path.insert(0, NoTorch())
from lilbench.cli import COMMANDS, main

calls = [[name, "--help"] for name in COMMANDS]
from lilbench.attacks import ATTACKS
calls += [["attack", name, "--help"] for name in ATTACKS.names()]
calls += [["data", "prepare", "--help"]] + [["runs", s, "--help"] for s in ("list", "adopt", "gc")]
failed = []
for args in calls:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            main(args)
        except SystemExit as exc:
            if exc.code not in (0, None):
                failed.append(args)
        except Exception as exc:
            failed.append(args + [type(exc).__name__, str(exc)])
print(json.dumps({"calls": len(calls), "failed": failed}))
"""


def _help_without_torch(env: dict[str, str]) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", HELP_WITHOUT_TORCH], capture_output=True, text=True, env=env
    )
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_every_help_runs_with_torch_blocked_and_the_test_can_fail(tmp_path: Path) -> None:
    """Issue 50: every command's and subcommand's --help (each attack's included) runs with
    torch's import blocked. The check is shown to fail: a registered module with a
    top-level `import torch` (a plugin's, registered by entry point) breaks it."""
    plain = _help_without_torch({**os.environ, "COLUMNS": "200"})
    assert plain["failed"] == [] and int(plain["calls"]) > 20, plain  # type: ignore[call-overload]
    site = tmp_path / "site"
    _distribution(site, "lbtorch", "lbtorch.shift", "import torch\n" + SHIFT)
    seeded = _help_without_torch({**os.environ, "PYTHONPATH": str(site), "COLUMNS": "200"})
    assert seeded["failed"], seeded
