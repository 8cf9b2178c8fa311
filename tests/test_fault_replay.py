"""Issue 47's faults, replayed: each case is what a new or hostile user did, and what must
happen now. The CLI cases are a table (command, expected exit code, words the one-line error
must contain); the others call the code they broke. Every case here failed on the main of
2026-12-06 (`scripts/replay_faults.sh --before REV` replays the table on another revision).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from helpers import TINY_SUITE, cli
from torch import nn

from lilbench.attacks.checks import pack_mask
from lilbench.errors import ConfigError

SUITE = TINY_SUITE.replace("name: tiny", "name: replay")


def _suite(tmp_path: Path, extra: str, name: str = "s.yaml") -> str:
    path = tmp_path / name
    path.write_text(SUITE + textwrap.dedent(extra))
    return str(path)


def _claims(tmp_path: Path) -> str:
    (tmp_path / "sub").mkdir(exist_ok=True)
    path = tmp_path / "sub" / "claims.yaml"
    path.write_text(
        "title: t\nclaims:\n  - {id: a, claim: c, quote: q, where: w, "
        "suites: [../../../../../../etc/passwd], evidence: isometry}\n"
    )
    return str(path)


# A tiny model's training options: where an earlier lilbench accepted the bad input, the
# replay of it (scripts/replay_faults.sh --before) computes in seconds, not minutes.
TINY = ["--epochs", "1", "--train-limit", "300", "--width", "8"]

# (case, argv builder, exit code, words the error must contain). Each is refused before any
# compute: no case trains a model.
CLI_CASES: list[tuple[str, Any, int, tuple[str, ...]]] = [
    (
        "9 gaussian noise 1e308",
        lambda t: ["run", _suite(t, "noise: {gaussian: [1.0e308]}\n")],
        2,
        ("noise.gaussian", "[0, 10]"),
    ),
    (
        "10 corruption severity 1e9",
        lambda t: ["run", _suite(t, "corruptions: {names: [fog], severity: 1.0e9}\n")],
        2,
        ("corruptions.severity", "[0, 5]"),
    ),
    (
        "14 train --model conv without --conv",
        lambda t: ["train", "--model", "conv", "--runs-dir", str(t / "r")],
        2,
        ("--conv small|authors",),
    ),
    (
        "17 --step-factor inf",
        lambda t: ["attack", "pgd", "--step-factor", "inf", "--runs-dir", str(t / "r")],
        2,
        ("finite",),
    ),
    (
        "17 misspelt certify key",
        lambda t: ["run", _suite(t, "certify: {epss: [0.01]}\n")],
        2,
        ("epss", "did you mean 'eps'"),
    ),
    (
        "17 misspelt corruptions key",
        lambda t: ["run", _suite(t, "corruptions: {severty: 1}\n")],
        2,
        ("severty", "did you mean 'severity'"),
    ),
    (
        "17 misspelt noise key",
        lambda t: ["run", _suite(t, "noise: {gausian: [0.1]}\n")],
        2,
        ("gausian", "did you mean 'gaussian'"),
    ),
    (
        "17 duplicate corruption names",
        lambda t: ["run", _suite(t, "corruptions: {names: [fog, fog]}\n")],
        2,
        ("fog is named twice",),
    ),
    (
        "17 certify --method ''",
        lambda t: [
            "certify",
            "--method",
            "",
            *TINY,
            "--test-limit",
            "20",
            "--runs-dir",
            str(t / "r"),
        ],
        2,
        ("--method is empty",),
    ),
    (
        "17 runs list on a missing directory",
        lambda t: ["runs", "list", "--runs-dir", str(t / "missing")],
        2,
        ("no such directory",),
    ),
    (
        "2 runs gc on a directory lilbench did not mark",
        lambda t: ["runs", "gc", "--runs-dir", str(t)],
        2,
        ("not a lilbench runs directory",),
    ),
    (
        "17 --alpha 0 --beta 0",
        lambda t: ["train", "--alpha", "0", "--beta", "0", *TINY, "--runs-dir", str(t / "r")],
        2,
        ("loss zero",),
    ),
    (
        "17 claims suites: ../../etc/passwd",
        lambda t: ["claims", _claims(t), "--runs-dir", str(t / "r"), "--out-dir", str(t)],
        2,
        ("outside the claims file's folder",),
    ),
    (
        "17 --format parquet --out a.csv",
        lambda t: ["export", "--format", "parquet", "--out", str(t / "a.csv")],
        2,
        ("--format is parquet",),
    ),
]


@pytest.mark.parametrize(
    ("case", "argv", "code", "words"), CLI_CASES, ids=[c[0].replace(" ", "_") for c in CLI_CASES]
)
def test_cli_case(
    case: str,
    argv: Any,
    code: int,
    words: tuple[str, ...],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    got, _, err = cli(argv(tmp_path), capsys)
    flat = " ".join(err.split())
    assert got == code, (case, flat)
    assert "Traceback" not in err
    for w in words:
        assert w in flat, (case, w, flat)
    assert not list(tmp_path.rglob("*.safetensors")), "refused after compute was spent"


def test_17_norm_2_point_0_reads_as_norm_2(tmp_path: Path) -> None:
    from lilbench.suites import load_suite

    text = SUITE.replace("eps: [0.1]", "eps: [0.5]\n    norm: 2.0")
    (tmp_path / "s.yaml").write_text(text)
    assert load_suite(tmp_path / "s.yaml").attacks[0].norm == "2"
    from lilbench.certify.spec import CertifySpec

    assert CertifySpec.from_dict({"norm": 2.0, "eps": [0.1]}).norm == "2"


def test_17_help_texts(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """No "Default default"; certify's --checkpoint does not say "to attack"; the plain
    layout of narrow terminals prints lilbench[ray] without rich's escape."""
    _, out, _ = cli(["train", "--help"], capsys)
    assert "Default default" not in " ".join(out.split())
    _, out, _ = cli(["certify", "--help"], capsys)
    assert "to attack" not in " ".join(out.split())
    monkeypatch.setenv("COLUMNS", "80")
    _, out, _ = cli(["run", "--help"], capsys)
    assert "lilbench[ray]" in out and "\\[ray]" not in out


# 3. The claims table's certified bracket: no attack at or below the certified eps.


def test_3_bracket_upper_end_is_the_clean_count_without_attacks() -> None:
    from lilbench.results.certificates import brackets
    from lilbench.schemas import CertificateRecord

    n, clean = 10, 7
    mask = np.zeros(n, dtype=bool)
    mask[:5] = True
    cert = CertificateRecord.model_validate(
        {
            "schema": 1,
            "kind": "certificate",
            "checkpoint": {"config_hash": "c", "tensors_sha256": "t"},
            "samples": {"n": n},
            "clean": {"correct": clean, "accuracy": clean / n},
            "points": [
                {"method": "crown", "eps": 0.01, "n": n, "certified": 5, "bits": pack_mask(mask)}
            ],
            "checks": [],
            "passed": True,
        }
    )
    (b,) = brackets(cert, {})
    assert b.upper is None and b.upper_bound == clean  # was n: [0.5, 1.0] for [0.5, 0.7]


# 4. A baseline's tolerances and values.

GOOD = {
    "suite": "s",
    "default_tolerance": 0.005,
    "metrics": {"m": {"value": 0.5, "tolerance": 0.01}},
}


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        ('"tolerance": Infinity', "tolerance"),
        ('"tolerance": true', "tolerance"),
        ('"tolerance": 5', "[0, 1)"),
        ('"tolerance": -0.1', "[0, 1)"),
        ('"tolerance": NaN', "[0, 1)"),
        ('"value": NaN', "[0, 1]"),
        ('"tolerence": 0.01', "did you mean 'tolerance'"),
    ],
    ids=["inf", "true", "5", "negative", "nan", "nan-value", "misspelt"],
)
def test_4_a_baseline_is_validated(edit: str, words: str, tmp_path: Path) -> None:
    from lilbench.regression.baseline import load_baseline

    text = json.dumps(GOOD)
    key = edit.split(":")[0]
    if key == '"tolerence"':
        text = text.replace('"tolerance": 0.01', edit)
    else:
        text = text.replace(f"{key}: {0.01 if 'tol' in key else 0.5}", edit)
    assert text != json.dumps(GOOD)
    path = tmp_path / "b.json"
    path.write_text(text)
    with pytest.raises(ConfigError) as exc:
        load_baseline(path)
    assert words in str(exc.value) and "\n" not in str(exc.value)
    path.write_text(json.dumps(GOOD))
    assert load_baseline(path)["metrics"]["m"]["value"] == 0.5


def test_4_cli_tolerance_has_the_files_rule() -> None:
    from lilbench.regression.baseline import check_tolerance

    for bad in (5.0, float("inf"), -1.0, float("nan")):
        with pytest.raises(ConfigError):
            check_tolerance(bad)
    assert check_tolerance(0.005) == 0.005


# 5. A hand-edited record that is still valid JSON.


def _record(n: int = 16, clean: int = 12, robust: int = 9) -> dict[str, Any]:
    cm, rm = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    cm[:clean], rm[:robust] = True, True
    return {
        "schema": 2,
        "kind": "attack",
        "attack": "fgsm",
        "label": "fgsm",
        "sweep": "eps",
        "params": {"name": "fgsm"},
        "checkpoint": {"config_hash": "c", "tensors_sha256": "t"},
        "samples": {"n": n},
        "seed": 0,
        "clean": {"correct": clean, "accuracy": clean / n, "bits": pack_mask(cm)},
        "points": [
            {
                "eps": 0.1,
                "n": n,
                "correct": robust,
                "accuracy": robust / n,
                "correct_bits": pack_mask(rm),
            }
        ],
        "checks": [],
        "passed": True,
        "rule": "clean-and-attacked",
    }


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        ({"correct": 15, "accuracy": 15 / 16, "correct_bits": None}, "robust but only 12"),
        ({"correct": 10, "accuracy": 10 / 16}, "its bits mark 9"),  # against its own bits
        ({"accuracy": 0.9}, "is not 9/16"),
        ({"correct": 17, "accuracy": 17 / 16}, "17 correct of 16"),
        ({"correct_bits": pack_mask(np.arange(16) >= 7)}, "wrong clean"),  # 9 bits, 3 not clean
    ],
    ids=["above-clean", "against-its-bits", "accuracy", "above-n", "bits-not-clean"],
)
def test_5_a_record_must_agree_with_itself(edit: dict[str, Any], words: str) -> None:
    from pydantic import ValidationError

    from lilbench.schemas import AttackRecord

    AttackRecord.model_validate(_record())  # the unedited record reads
    rec = _record()
    rec["points"][0].update(edit)
    with pytest.raises(ValidationError) as exc:
        AttackRecord.model_validate(rec)
    assert words in str(exc.value)


def test_5_runs_list_calls_an_edited_record_malformed(tmp_path: Path) -> None:
    from lilbench.results.inventory import inventory
    from lilbench.store import mark_runs_dir

    runs = tmp_path / "runs"
    path = runs / "attacks" / "0123456789abcdef" / "fgsm-0123456789abcdef.json"
    path.parent.mkdir(parents=True)
    rec = _record()
    rec["points"][0].update(correct=12, accuracy=12 / 16)  # bits still say 9
    path.write_text(json.dumps(rec))
    mark_runs_dir(runs)
    (entry,) = [e for e in inventory(runs) if e.path == path]
    assert entry.status == "malformed" and "bits mark 9" in entry.detail


# 6. Another claims file writes its own table.


def test_6_claims_table_is_named_by_its_file() -> None:
    from lilbench.reports.claims import report_name

    assert report_name(Path("suites/paper-claims.yaml")) == "paper-claims.md"
    assert report_name(Path("mine/other.yaml")) == "other.md"


# 1. One identity for a user's module.


class _Base(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def test_1_wrappers_without_parameters_are_other_models() -> None:
    from lilbench.api import legacy_module_identity, module_identity

    base = _Base()
    plain = nn.Sequential(nn.Flatten(), base)
    soft = nn.Sequential(nn.Flatten(), base, nn.Softmax(dim=1))
    drop = nn.Sequential(nn.Flatten(), base, nn.Dropout(0.9))
    assert legacy_module_identity(plain) == legacy_module_identity(soft)  # the defect
    ids = {module_identity(m) for m in (plain, soft, drop)}
    assert len(ids) == 3
    assert module_identity(nn.Softmax(dim=1)) != module_identity(nn.Softmax(dim=0))
    drop.eval()
    assert module_identity(drop) != module_identity(drop.train())
    assert module_identity(plain) == module_identity(nn.Sequential(nn.Flatten(), _Base()))


def test_1_evaluate_does_not_serve_the_plain_models_records(tmp_path: Path) -> None:
    import lilbench

    base = _Base()
    plain = nn.Sequential(nn.Flatten(), base)
    soft = nn.Sequential(nn.Flatten(), base, nn.Softmax(dim=1))
    kw: dict[str, Any] = {"attacks": [{"name": "fgsm", "eps": [0.1]}], "test_limit": 40}
    first = lilbench.evaluate(plain, runs_dir=tmp_path, **kw)
    second = lilbench.evaluate(soft, runs_dir=tmp_path, **kw)
    assert first.points[0].model != second.points[0].model
    assert not second.passed  # probabilities, not logits: the check fails, as in a fresh dir


# 11, 13, 15: models that cannot be attacked, or whose numbers are not numbers.


class _Constant(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bias.expand(len(x), 10) + 0 * x.detach().flatten(1)[:, :10]


class _NaN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(784, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(x.flatten(1)) * float("nan")


def test_11_a_model_independent_of_its_input_is_refused() -> None:
    from lilbench.models.external import adapt

    with pytest.raises(ConfigError, match="does not depend on its input"):
        adapt(_Constant(), image_shape=(1, 28, 28), num_classes=10)


def test_13_non_finite_outputs_fail_the_logits_check() -> None:
    from lilbench.attacks.model_checks import check_logits_eval

    check = check_logits_eval(_NaN().eval(), torch.rand(8, 784))
    assert not check.passed and "NOT finite" in check.detail
    assert check_logits_eval(_Base().eval(), torch.rand(8, 784)).passed


def test_15_a_program_exported_for_one_batch_size_says_how_to_export(tmp_path: Path) -> None:
    from lilbench.models.external import adapt

    program = torch.export.export(_Base().eval(), (torch.rand(4, 1, 28, 28),))
    with pytest.raises(ConfigError, match="dynamic batch dimension"):
        adapt(program.module(), image_shape=(1, 28, 28), num_classes=10)


def test_12_torchscript_whose_code_lies_in_a_models_package(tmp_path: Path) -> None:
    from lilbench.models.external_files import sniff_model_file

    pkg = tmp_path / "src" / "models"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "net.py").write_text(
        "import torch\n"
        "class Net(torch.nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.lin = torch.nn.Linear(784, 10)\n"
        "    def forward(self, x):\n"
        "        return self.lin(x.flatten(1))\n"
    )
    sys.path.insert(0, str(tmp_path / "src"))
    try:
        from models.net import Net  # type: ignore[import-not-found]

        scripted = torch.jit.script(Net())
    finally:
        sys.path.remove(str(tmp_path / "src"))
        sys.modules.pop("models.net", None)
        sys.modules.pop("models", None)
    out = tmp_path / "net.pt"
    torch.jit.save(scripted, str(out))
    assert sniff_model_file(out, what="--model") == "torchscript"


# 8. Workers die with their parent.

_PARENT = """
import operator, sys, time
from lilbench.results.executors import Processes
ex = Processes(2)
list(ex.map(operator.add, [1, 2, 3, 4], 1))
print(" ".join(str(p) for p in ex._pool._processes), flush=True)
time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(")")[-1].split()[0] == "Z")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_8_workers_die_when_their_parent_is_killed() -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", _PARENT], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    assert parent.stdout is not None
    pids = [int(p) for p in parent.stdout.readline().split()]
    assert len(pids) == 2 and all(_alive(p) for p in pids)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 20
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = [p for p in pids if _alive(p)]
    for p in left:
        os.kill(p, signal.SIGKILL)
    assert not left, f"workers {left} outlived their killed parent"


# 17. Progress says "reused" for reused noise and model-check items.


def test_17_progress_says_reused_for_noise_and_model_checks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    suite = _suite(tmp_path, "noise: {gaussian: [0.1], draws: 1}\nmodel_checks: true\n")
    runs = str(tmp_path / "runs")
    assert cli(["run", suite, "--runs-dir", runs], capsys)[0] == 0
    code, out, err = cli(["run", suite, "--runs-dir", runs], capsys)
    text = " ".join((out + err).split())
    assert code == 0
    assert "reused noise and corruptions" in text and "reused model checks" in text
    assert "done noise" not in text and "done model checks" not in text
