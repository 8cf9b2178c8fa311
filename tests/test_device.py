"""The GPU path, tested where there is no GPU: device validation, the device a caller's
module and ART's classifier end up on, tensors built on the logits' device, device-keyed
checkpoints and records, Ray's GPU requests, the determinism switches, and commands that
say they run on the CPU. A machine "with GPUs" is simulated by monkeypatching
torch.cuda's queries; only code that allocates nothing on the GPU is run that way."""

from __future__ import annotations

import os
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from helpers import cli
from torch import nn

import lilbench
from lilbench import runtime
from lilbench.attacks import FGSM
from lilbench.errors import ConfigError


class NoTensors(nn.Module):
    """A classifier with no parameters or buffers: moving it to "cuda" allocates nothing,
    so the code that moves it can run on a machine without a GPU."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1)[:, :10] * 3.0


@pytest.fixture
def fake_gpus(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """torch believes there is one CUDA GPU; the global switches a CUDA device sets are put
    back afterwards."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    flags = (
        torch.are_deterministic_algorithms_enabled(),
        torch.backends.cudnn.deterministic,
        torch.backends.cudnn.benchmark,
        torch.backends.cuda.matmul.allow_tf32,
        torch.backends.cudnn.allow_tf32,
    )
    yield
    torch.use_deterministic_algorithms(flags[0])
    torch.backends.cudnn.deterministic = flags[1]
    torch.backends.cudnn.benchmark = flags[2]
    torch.backends.cuda.matmul.allow_tf32 = flags[3]
    torch.backends.cudnn.allow_tf32 = flags[4]


class Stop(Exception):
    pass


def test_evaluate_imports_the_module_on_the_requested_device(
    fake_gpus: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Item 1: the module is imported (and its clean accuracy counted) on `device`, not on
    the CPU default."""
    import lilbench.training.checkpoint as checkpoint

    seen: dict[str, Any] = {}

    def spy(runs_dir: Path, module: nn.Module, ident: str, **kw: Any) -> None:
        seen.update(kw)
        raise Stop

    monkeypatch.setattr(checkpoint, "import_module", spy)
    with pytest.raises(Stop):
        lilbench.evaluate(NoTensors(), device="cuda", runs_dir=tmp_path, test_limit=10)
    assert str(seen.get("device", "cpu")) == "cuda"


class Recorder(nn.Module):
    """Records every move (`_apply`: .to, .cuda, .float) and mode switch made to it."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(784, 10)
        self.events: list[str] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.flatten(1))

    def _apply(self, fn: Any, recurse: bool = True) -> Recorder:
        self.events.append("moved")
        return super()._apply(fn, recurse)  # type: ignore[return-value]

    def train(self, mode: bool = True) -> Recorder:
        if hasattr(self, "events"):
            self.events.append(f"train({mode})")
        return super().train(mode)


def test_evaluate_leaves_the_callers_module_where_and_as_it_was(tmp_path: Path) -> None:
    """Item 2: no move, no mode switch, no frozen weights on the caller's module."""
    torch.manual_seed(0)
    module = Recorder()
    module.fc.bias.requires_grad_(False)  # a flag the caller set: kept as it is
    module.events.clear()
    result = lilbench.evaluate(
        module, attacks=[{"name": "fgsm", "eps": [0.1]}], test_limit=50, runs_dir=tmp_path
    )
    assert result.points and module.events == []
    assert module.training and module.fc.weight.requires_grad
    assert not module.fc.bias.requires_grad
    assert module.fc.weight.device.type == "cpu"


def test_model_checks_build_their_tensors_on_the_logits_device() -> None:
    """Item 3: a softmax model fails the logits check by name, whatever the default device
    (simulated with "meta": a tensor made on the default device instead of the logits' is
    on another device, as on a GPU)."""
    from lilbench.attacks.model_checks import check_logits_eval

    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 10), nn.Softmax(dim=1)).eval()
    x = torch.rand(8, 784)
    torch.set_default_device("meta")
    try:
        check = check_logits_eval(model, x)
    finally:
        torch.set_default_device(None)
    assert not check.passed and "look like probabilities" in check.detail


def test_arts_classifier_lands_on_the_requested_gpu(fake_gpus: None) -> None:
    """Item 4: cuda:1 means cuda:1, not ART's cuda:{current_device()}."""
    from lilbench.attacks import art_backend as art

    assert torch.cuda.device_count() == 1  # the simulated machine: cuda:1 is not asked of it
    clf = art.make_classifier(
        NoTensors(), input_dim=784, num_classes=10, device=torch.device("cuda:1")
    )
    assert clf.device == torch.device("cuda:1")
    img = art.image_classifier(
        NoTensors(), shape=(1, 28, 28), num_classes=10, device=torch.device("cuda:1")
    )
    assert img.device == torch.device("cuda:1")


def test_a_gpu_index_the_machine_lacks_is_one_line_exit_2(
    fake_gpus: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Item 5: refused before any work, naming the GPUs there are."""
    code, out, err = cli(["train", "--device", "cuda:7", "--runs-dir", str(tmp_path)], capsys)
    assert code == 2 and out == ""
    assert err.strip() == "error: --device cuda:7: this machine has 1 CUDA GPU(s), cuda:0 to cuda:0"
    assert not any(tmp_path.iterdir())
    assert runtime.resolve_device("cuda:0") == torch.device("cuda:0")
    with pytest.raises(ConfigError, match="unsupported device 'mps'"):
        runtime.resolve_device("mps")


def test_the_device_enters_checkpoint_and_record_keys(small_model: Any, tmp_path: Path) -> None:
    """Item 6: a CUDA request is never served the CPU's checkpoint or records (nor the
    reverse); CPU keys stay what they were, so every existing runs directory is reused."""
    from lilbench.results.attack_runs import ensure_attack
    from lilbench.results.records import attack_key, find_record, record_path
    from lilbench.training.checkpoint import find_checkpoint, storage_hash

    ckpt = small_model.checkpoint
    config = ckpt.config
    assert storage_hash(config, "cpu") == config.config_hash() == ckpt.config_hash
    assert storage_hash(config, "cuda") != storage_hash(config, "cpu")
    assert storage_hash(config, "cuda:1") == storage_hash(config, "cuda")
    runs = small_model.checkpoint.path.parent.parent
    assert find_checkpoint(runs, config, "cpu") is not None
    assert find_checkpoint(runs, config, "cuda") is None
    spec = FGSM(eps=(0.1,)).validate()
    cpu_key = attack_key(ckpt, spec, limit=30, seed=0)
    assert attack_key(ckpt, spec, limit=30, seed=0, device="cpu") == cpu_key
    assert attack_key(ckpt, spec, limit=30, seed=0, device="cuda") != cpu_key
    run = ensure_attack(ckpt, spec, runs_dir=tmp_path, limit=30, seed=0)
    assert run.path == record_path(tmp_path, ckpt, spec, limit=30, seed=0)
    assert run.record.device == "cpu"
    assert find_record(tmp_path, ckpt, spec, limit=30, seed=0) is not None
    assert find_record(tmp_path, ckpt, spec, limit=30, seed=0, device="cuda") is None


def test_ray_tasks_ask_for_a_gpu_when_the_suite_computes_on_cuda(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Item 7: with --device cuda each task asks Ray for one GPU (Ray then shows it that GPU
    alone); on the CPU for none. A stand-in for Ray records what is asked."""
    from lilbench.results.executors import make_executor

    asked: list[dict[str, Any]] = []
    fake = types.ModuleType("ray")
    fake.is_initialized = lambda: True  # type: ignore[attr-defined]
    fake.cluster_resources = lambda: {"CPU": 16.0, "GPU": 2.0}  # type: ignore[attr-defined]

    def remote(**options: Any) -> Any:
        asked.append(options)
        return lambda fn: fn

    fake.remote = remote  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "ray", fake)
    gpu = make_executor("ray", workers=1, auto=True, device="cuda")
    assert asked[-1] == {"num_cpus": 1, "num_gpus": 1} and gpu.workers == 2
    cpu = make_executor("ray", workers=1, auto=True, device="cpu")
    assert asked[-1] == {"num_cpus": 1, "num_gpus": 0} and cpu.workers == 16
    with pytest.raises(ConfigError, match="Ray assigns each task its GPU; use --device cuda"):
        make_executor("ray", workers=1, device="cuda:1")


def test_a_cuda_device_switches_on_determinism(fake_gpus: None) -> None:
    """Item 8: asserted on torch's flags."""
    torch.use_deterministic_algorithms(False)
    torch.backends.cuda.matmul.allow_tf32 = True
    runtime.resolve_device("cuda")
    assert torch.are_deterministic_algorithms_enabled()
    assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark
    assert not torch.backends.cuda.matmul.allow_tf32 and not torch.backends.cudnn.allow_tf32
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == runtime.CUBLAS_WORKSPACE


def test_commands_say_where_they_run(
    fake_gpus: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Item 9: inspect refuses a GPU it would ignore; certify says it runs on the CPU and
    takes no --device; a suite names its device; report reads CUDA records without a GPU."""
    code, _, err = cli(["inspect", str(tmp_path), "--device", "cuda"], capsys)
    assert code == 2 and "inspect's diagnostics run on the CPU only" in err
    code, out, _ = cli(["certify", "--help"], capsys)
    flat = " ".join(out.split())
    assert code == 0 and "Runs on the CPU in float64" in flat and "--device" not in out
    suite = tmp_path / "s.yaml"
    suite.write_text("name: s\nbetas: [0]\ndevice: tpu\nattacks: [{name: fgsm}]\n")
    code, _, err = cli(["run", str(suite)], capsys)
    assert code == 2 and "device: expected cpu, cuda or cuda:N, got 'tpu'" in err
    suite.write_text("name: s\nbetas: [0]\ndevice: cuda\nattacks: [{name: fgsm}]\n")
    from lilbench.suites import load_suite

    assert load_suite(suite).device == "cuda"
    code, _, err = cli(["report", str(suite), "--runs-dir", str(tmp_path / "runs")], capsys)
    assert code == 1 and "missing" in err  # read on a "GPU" suite: nothing cached, no crash


def test_the_default_worker_count_on_a_gpu_is_one_process(
    fake_gpus: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Item 9: one process holds the CUDA context (not one per model, all on cuda:0)."""
    import lilbench.cli.suite as suite_cmd
    import lilbench.results.executors as executors
    from lilbench.suites import load_suite

    made: list[dict[str, Any]] = []

    def record(name: str, **kw: Any) -> Any:
        made.append(kw)
        raise Stop

    monkeypatch.setattr(executors, "make_executor", record)
    path = tmp_path / "s.yaml"
    path.write_text("name: s\nbetas: [0, 1, 10]\nattacks: [{name: fgsm}]\n")
    with pytest.raises(Stop):
        suite_cmd._run(load_suite(path), tmp_path, None, "cuda", True)
    assert made[0]["workers"] == 1 and made[0]["device"] == "cuda"


SMOKE = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_smoke.sh"


def test_the_gpu_smoke_script_parses() -> None:
    import subprocess

    done = subprocess.run(["bash", "-n", str(SMOKE)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


@pytest.mark.slow
def test_the_gpu_smoke_script_dry_run_on_the_cpu(tmp_path: Path) -> None:
    """The whole script with --device cpu (about 2-3 min on 2 cores: behind --runslow)."""
    import subprocess

    done = subprocess.run(
        ["bash", str(SMOKE), "--device", "cpu", "--quick", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    lines = done.stdout.splitlines()
    assert done.returncode == 0, done.stdout + done.stderr
    assert not [line for line in lines if line.startswith("FAIL")]
    assert lines[-1].startswith("summary: 14/14 passed on cpu")
