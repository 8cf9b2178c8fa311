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
        ["certify", *model, "--test-limit", "50", "--runs-dir", runs],
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
