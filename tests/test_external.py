"""Models lilbench did not train: torch.export, TorchScript and factories in, the same checked
and cached attacks, and the model-level checks catching the usual mistakes by name."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest
import safetensors.torch
import torch
import torch.nn.functional as F
from helpers import assert_every_record_passed, cli
from torch import nn

import lilbench
from lilbench.data import Dataset

LIMIT = "120"


class TinyConv(nn.Module):
    """(N, 1, 28, 28) -> 10 logits, briefly trained below so its accuracy is above chance."""

    def __init__(self, *, dropout: float = 0.0, softmax: bool = False, rounding: bool = False):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, stride=2, padding=1)
        self.drop = nn.Dropout(dropout)
        self.fc = nn.Linear(4 * 14 * 14, 10)
        self.softmax, self.rounding = softmax, rounding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.rounding:  # a quantising input layer: zero gradient almost everywhere
            x = torch.round(x * 4) / 4
        z = self.fc(self.drop(F.relu(self.conv(x))).flatten(1))
        return z.softmax(1) if self.softmax else z


def _trained(mnist: Dataset, **kw: object) -> TinyConv:
    torch.manual_seed(0)
    model = TinyConv(**kw)  # type: ignore[arg-type]
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    x, y = mnist.x_train[:2000].reshape(-1, 1, 28, 28), mnist.y_train[:2000]
    for i in range(0, 2000, 100):
        opt.zero_grad()
        F.cross_entropy(model(x[i : i + 100]), y[i : i + 100]).backward()
        opt.step()
    return model.eval()


def _export(model: nn.Module, path: Path) -> Path:
    batch = {"x": {0: torch.export.Dim("batch")}}
    program = torch.export.export(model, (torch.rand(2, 1, 28, 28),), dynamic_shapes=batch)
    torch.export.save(program, str(path))
    return path


def _attack(args: list[str], runs: Path, capsys: pytest.CaptureFixture[str]) -> dict:
    code, out, err = cli(
        ["attack", *args, "--test-limit", LIMIT, "--runs-dir", str(runs), "--json"], capsys
    )
    assert code == 0, err
    return json.loads(out)  # type: ignore[no-any-return]


def _failed(record: dict) -> list[str]:
    return [c["name"] for c in record["checks"] if not c["passed"]]


def test_an_exported_model_is_attacked_checked_and_cached(
    tmp_path: Path, mnist: Dataset, capsys: pytest.CaptureFixture[str]
) -> None:
    model = _trained(mnist)
    pt2 = _export(model, tmp_path / "m.pt2")
    runs = tmp_path / "runs"
    fgsm = ["fgsm", "--model", str(pt2), "--eps", "0.05,0.2"]
    rec = _attack(fgsm, runs, capsys)
    assert rec["passed"], _failed(rec)
    names = {c["name"] for c in rec["checks"]}
    assert {"eval mode, logits out", "deterministic logits", "chance or below at eps = 1"} <= names
    assert rec["checkpoint"]["external"]["kind"] == "torch.export"
    assert rec["clean"]["accuracy"] > 0.5
    # The same attack again is served from the cache ...
    code, _, err = cli(["attack", *fgsm, "--test-limit", LIMIT, "--runs-dir", str(runs)], capsys)
    assert code == 0 and "reusing result" in err
    # ... and the module in memory gives the same numbers through the Python API (which
    # computes on one thread, as the CLI does, and gives the caller's thread count back).
    torch.set_num_threads(2)
    result = lilbench.evaluate(
        model,
        attacks=[{"name": "fgsm", "eps": [0.05, 0.2]}],
        test_limit=int(LIMIT),
        runs_dir=runs,
    )
    assert result.passed, result.failed_checks
    assert [(p.eps, p.correct) for p in result] == [(p["eps"], p["correct"]) for p in rec["points"]]
    frame = result.to_frame()
    assert list(frame["correct"]) == [p["correct"] for p in rec["points"]]
    assert not model.training and all(p.requires_grad for p in model.parameters())
    assert torch.get_num_threads() == 2


def test_a_changed_model_file_is_not_served_the_old_record(
    tmp_path: Path, mnist: Dataset, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = tmp_path / "runs"
    pt2 = _export(_trained(mnist), tmp_path / "m.pt2")
    first = _attack(["fgsm", "--model", str(pt2), "--eps", "0.1"], runs, capsys)
    other = _trained(mnist)
    with torch.no_grad():
        other.fc.weight.mul_(-1.0)  # a different model under the same file name
    _export(other, pt2)
    second = _attack(["fgsm", "--model", str(pt2), "--eps", "0.1"], runs, capsys)
    assert second["checkpoint"]["tensors_sha256"] != first["checkpoint"]["tensors_sha256"]
    assert second["clean"]["correct"] != first["clean"]["correct"]


def test_torchscript_and_factory_models(
    tmp_path: Path,
    mnist: Dataset,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model = _trained(mnist)
    runs = tmp_path / "runs"
    ts = tmp_path / "m.ts"
    torch.jit.script(model).save(str(ts))
    scripted = _attack(["fgsm", "--model", str(ts), "--eps", "0.1"], runs, capsys)
    assert scripted["passed"] and scripted["checkpoint"]["external"]["kind"] == "torchscript"
    # A factory in the user's own package, with safetensors weights.
    pkg = tmp_path / "userpkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    source = textwrap.dedent(
        """
        from torch import nn
        def build():
            return nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
        """
    )
    (pkg / "nets.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    weights = tmp_path / "w.safetensors"
    safetensors.torch.save_file(net.state_dict(), str(weights))
    args = ["fgsm", "--model", "userpkg.nets:build", "--weights", str(weights), "--eps", "0.1"]
    built = _attack(args, runs, capsys)
    assert built["passed"] and built["checkpoint"]["external"]["kind"] == "factory"
    # Editing the factory makes it another model (its source is part of its identity), whose
    # new architecture the old weights do not fit.
    (pkg / "nets.py").write_text(source.replace("784, 10", "784, 10, bias=False"))
    sys.modules.pop("userpkg.nets", None)
    code, _, err = cli(
        ["attack", *args, "--test-limit", LIMIT, "--runs-dir", str(runs), "--force"], capsys
    )
    assert code == 2 and "do not fit" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("kind", "failing"),
    [
        ("softmax", "eval mode, logits out"),
        ("exported-in-training", "deterministic logits"),
        ("in-memory-training", "handed over in eval mode"),
        ("rounding", "input gradients non-zero and finite for most inputs"),
    ],
)
def test_the_model_checks_catch_broken_models(
    kind: str, failing: str, tmp_path: Path, mnist: Dataset, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = tmp_path / "runs"
    model = _trained(mnist, softmax=kind == "softmax", rounding=kind == "rounding", dropout=0.5)
    if kind in ("softmax", "exported-in-training"):
        if kind == "exported-in-training":
            model.train()  # its dropout is exported with it
        pt2 = _export(model, tmp_path / "m.pt2")
        failed = _failed(_attack(["fgsm", "--model", str(pt2), "--eps", "0.1"], runs, capsys))
    else:
        if kind == "in-memory-training":
            model.train()
        result = lilbench.evaluate(model, attacks=["fgsm"], test_limit=int(LIMIT), runs_dir=runs)
        failed = [f.split(": ", 1)[1] for f in result.failed_checks]
        assert model.training == (kind == "in-memory-training")  # handed back as it came
    assert failing in failed, failed


def test_bad_model_options_fail_in_one_line_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = tmp_path / "runs"
    pickled = tmp_path / "model.pkl"
    pickled.write_bytes(b"\x80\x04K\x01.")
    static = tmp_path / "static.pt2"
    flat = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    torch.export.save(torch.export.export(flat, (torch.rand(2, 784),)), str(static))
    cases = [
        (["--model", str(pickled)], "not a torch.export"),
        (["--model", str(tmp_path / "missing.pt2")], "no such file"),
        (["--model", "pkg.mod:fn"], "give its weights with --weights"),
        (["--model", str(static)], "one batch size only"),
        (["--model", str(static), "--beta", "1"], "--model takes only --dataset"),
    ]
    for args, message in cases:
        code, _, err = cli(["attack", "fgsm", *args, "--runs-dir", str(runs)], capsys)
        assert code == 2, (args, err)
        assert message in err and "Traceback" not in err, err
    assert not (runs / "attacks").exists()


def test_a_suite_attacks_its_models_entries_beside_its_own(
    tmp_path: Path, mnist: Dataset, capsys: pytest.CaptureFixture[str]
) -> None:
    _export(_trained(mnist), tmp_path / "conv.pt2")
    suite = tmp_path / "mixed.yaml"
    suite.write_text(
        textwrap.dedent(
            """
            name: mixed
            dataset: mnist
            train: {limit: 1000, epochs: 1, width: 16, depth: 2}
            betas: [0]
            models:
              - {name: my-conv, file: conv.pt2}
            seeds: [0]
            test_limit: 150
            model_checks: true
            attacks:
              - {name: fgsm, eps: [0.05, 0.2, 1.0]}
              - {name: pgd, eps: [0.05, 0.2], steps: 5}
            """
        )
    )
    runs, reports = tmp_path / "runs", tmp_path / "reports"
    code, _, err = cli(["run", str(suite), "--runs-dir", str(runs), "--workers", "1"], capsys)
    assert code == 0, err
    assert "done   model my-conv seed=0" in err
    assert assert_every_record_passed(runs, model_checks=True) >= 4
    code, _, err = cli(
        ["report", str(suite), "--runs-dir", str(runs), "--out-dir", str(reports)], capsys
    )
    assert code == 0, err
    text = (reports / "mixed.md").read_text()
    assert "my-conv" in text
    table = tmp_path / "mixed.csv"
    assert cli(["export", str(suite), "--runs-dir", str(runs), "--out", str(table)], capsys)[0] == 0
    rows = table.read_text().splitlines()
    external = [r for r in rows if ",my-conv," in r]
    assert len(external) == 5 and all(",external," in r for r in external)
    # Run again: the imported model and its records are reused, nothing recomputed.
    code, _, err = cli(["run", str(suite), "--runs-dir", str(runs), "--workers", "1"], capsys)
    assert code == 0 and "done " not in err.replace("done   model checks", "")
    bad = tmp_path / "bad.yaml"
    bad.write_text(suite.read_text().replace("conv.pt2", "missing.pt2"))
    code, _, err = cli(["run", str(bad), "--runs-dir", str(runs)], capsys)
    assert code == 2 and "models[0].file: no such file" in err


def test_a_users_ci_loop_catches_a_degraded_model(
    mnist: Dataset, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The loop of examples/ci: export a model, name it in a suite, write its baseline with
    `check --update`; a degraded copy of the model then fails `check` (exit 1), and the JUnit
    file and the summary name the metrics that fell."""
    import xml.etree.ElementTree as ET

    model = _trained(mnist)
    _export(model, tmp_path / "my-net.pt2")
    suite = tmp_path / "robustness.yaml"
    suite.write_text(
        "name: robustness\nmodels:\n  - {name: my-net, file: my-net.pt2}\nseeds: [0]\n"
        f"test_limit: {LIMIT}\nattacks:\n  - {{name: fgsm, eps: [0.02, 0.05]}}\n"
    )
    runs, baseline = tmp_path / "runs", tmp_path / "baseline.json"
    common = ["--runs-dir", str(runs), "--baseline", str(baseline)]
    code, _, err = cli(["check", str(suite), *common, "--update"], capsys)
    assert code == 0, err
    xml, md = tmp_path / "junit.xml", tmp_path / "summary.md"
    report = ["--junit-xml", str(xml), "--summary", str(md)]
    code, _, err = cli(["check", str(suite), *common, *report], capsys)
    assert code == 0, err
    # The same file name, other weights: a degraded model, never served the old records.
    with torch.no_grad():
        gen = torch.Generator().manual_seed(0)
        model.fc.weight.add_(0.05 * torch.randn(model.fc.weight.shape, generator=gen))
    _export(model, tmp_path / "my-net.pt2")
    code, _, err = cli(["check", str(suite), *common, *report], capsys)
    assert code == 1, err
    failed = {
        f"{c.get('classname')}::{c.get('name')}"
        for c in ET.parse(xml).getroot().iter("testcase")
        if c.find("failure") is not None
    }
    baseline_values = json.loads(baseline.read_text())["metrics"]
    assert "robustness/my-net/seed=0::fgsm/eps=0.05" in failed
    assert all(name.startswith("robustness/my-net/seed=0::") for name in failed)
    listed = md.read_text().split("### Regressions")[1]
    for name in failed:
        metric = "my-net/seed=0/" + name.split("::")[1]
        assert metric in baseline_values and f"`{metric}`" in listed
