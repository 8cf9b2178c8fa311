"""The fast paths give the numbers of the plain ones, bit for bit: batched training, the lean
PGD loop, and suites run by worker processes or Ray."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import assert_every_record_passed

from lilbench.attacks import art_backend as art
from lilbench.attacks.kernels import art_steps
from lilbench.data import Dataset
from lilbench.errors import ConfigError
from lilbench.results.executors import Processes, Sequential, make_executor
from lilbench.results.suite_results import run_suite
from lilbench.suites import load_suite
from lilbench.training.batched import batch_key, group_configs, train_batch
from lilbench.training.config import TrainConfig
from lilbench.training.train import TrainingDiverged, TrainResult, train

SMALL = dict(limit=600, epochs=1, width=16, depth=2)


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_a_model_trained_in_a_batch_equals_it_trained_alone(mnist: Dataset) -> None:
    configs = [TrainConfig(beta=b, **SMALL) for b in (0.0, 0.1, 10.0)]
    configs.append(TrainConfig(beta=1.0, mode="global", k=2.0, alpha=0.5, **SMALL))
    batch = train_batch(configs, mnist)
    for config, together in zip(configs, batch, strict=True):
        alone = train(config, mnist)
        assert isinstance(together, TrainResult)
        assert _same_weights(together.model, alone.model), config.label()
        assert together.metrics["final_iso"] == alone.metrics["final_iso"]
        assert together.metrics["clean_test_accuracy"] == alone.metrics["clean_test_accuracy"]
    # The models did learn different things (the test would pass trivially otherwise).
    assert not _same_weights(batch[0].model, batch[2].model)  # type: ignore[union-attr]


def test_a_diverging_model_fails_alone_and_its_batch_trains_on(mnist: Dataset) -> None:
    good, bad = TrainConfig(beta=0.1, **SMALL), TrainConfig(beta=1e38, **SMALL)
    results = train_batch([good, bad], mnist)
    assert isinstance(results[1], TrainingDiverged)
    assert isinstance(results[0], TrainResult)
    assert _same_weights(results[0].model, train(good, mnist).model)


def test_only_configs_that_differ_in_the_lil_parameters_share_a_batch() -> None:
    base = TrainConfig(**SMALL)
    same = [base, TrainConfig(beta=1.0, **SMALL), TrainConfig(beta=2.0, mode="global", **SMALL)]
    assert len({batch_key(c) for c in same}) == 1
    others = [
        TrainConfig(**{**SMALL, "seed": 1}),
        TrainConfig(**{**SMALL, "lr": 0.01}),
        TrainConfig(**{**SMALL, "width": 8}),
    ]
    assert len({batch_key(c) for c in [base, *others]}) == 4
    assert batch_key(TrainConfig(objective="pgd-at", **SMALL)) is None
    assert batch_key(TrainConfig(spectral_norm=True, **SMALL)) is None
    assert group_configs([*same, *others]) == [[0, 1, 2], [3], [4], [5]]
    with pytest.raises(ConfigError):
        train_batch([base, others[0]], None)  # type: ignore[arg-type]


def test_lean_pgd_is_bit_identical_to_arts_pgd(mnist: Dataset) -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(784, 32), torch.nn.Tanh(), torch.nn.Linear(32, 10)
    ).eval()
    clf = art.make_classifier(model, input_dim=784, num_classes=10, device=torch.device("cpu"))
    x = mnist.x_test[:300].numpy()
    y = mnist.y_test[:300].numpy()
    # Small steps stay inside the ball; 0.6 and 1.0 leave it and hit [0, 1]: every branch.
    for step in (0.01, 0.6, 1.0):
        stock = art.art_pgd(
            clf, x, y, eps=0.5, step=step, steps=4, restarts=0, batch_size=128, seed=0
        )
        lean = art_steps.linf_pgd_clean_start(
            clf, x, y, eps=0.5, step=step, steps=4, batch_size=128
        )
        assert np.array_equal(stock, lean), step
        signs = art.fgsm_gradient_signs(clf, x, y, 128)  # what PGD sweeps share
        shared = art_steps.linf_pgd_clean_start(
            clf, x, y, eps=0.5, step=step, steps=4, batch_size=128, clean_signs=signs
        )
        assert np.array_equal(stock, shared), step
        assert not np.array_equal(lean, x)


TINY_SUITE = """
name: tiny-parallel
dataset: mnist
train: {limit: 800, epochs: 1, width: 16, depth: 2}
betas: [0, 1, 10]
seeds: [0]
test_limit: 150
attacks:
  - {name: fgsm, eps: [0.05, 0.2, 1.0]}
  - {name: pgd, eps: [0.5], steps: 3, step: [0.05, 0.5]}
model_checks: true
"""


def _outcome(runs: Path) -> dict[str, object]:
    """Every number a run produced, without timings, dates or paths."""
    out: dict[str, object] = {}
    for meta in sorted(runs.glob("models/*/meta.json")):
        m = json.loads(meta.read_text())
        out[meta.parent.name] = (m["tensors_sha256"], m["metrics"]["clean_test_accuracy"])
    for path in sorted(runs.glob("attacks/*/*.json")) + sorted(runs.glob("checks/*/*.json")):
        record = json.loads(path.read_text())
        for key in ("created", "timings", "checkpoint", "versions", "records"):
            record.pop(key, None)
        # Model checks are named after the records' files (which carry timings): key by model.
        name = "checks" if path.parent.parent.name == "checks" else path.name
        out[f"{path.parent.name}/{name}"] = record
    return out


def _run(tmp_path: Path, name: str, executor: object) -> dict[str, object]:
    suite_file = tmp_path / "tiny.yaml"
    suite_file.write_text(TINY_SUITE)
    runs = tmp_path / name
    events: list[tuple[str, bool]] = []
    run_suite(
        load_suite(suite_file),
        runs_dir=runs,
        executor=executor,  # type: ignore[arg-type]
        on_item=lambda what, reused: events.append((what, reused)),
    )
    assert len(events) == 3 * 4 and not any(reused for _, reused in events)
    assert_every_record_passed(runs, model_checks=True)
    return _outcome(runs)


@pytest.fixture(scope="module")
def sequential_outcome(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    from lilbench.runtime import pin_threads

    pin_threads()  # as the CLI does
    return _run(tmp_path_factory.mktemp("seq"), "runs", Sequential())


def test_two_worker_processes_give_the_sequential_numbers(
    tmp_path: Path, sequential_outcome: dict[str, object]
) -> None:
    with Processes(2) as ex:
        parallel = _run(tmp_path, "runs", ex)
    assert parallel == sequential_outcome
    assert len(parallel) == 3 + 3 * 2 + 3  # 3 models, 2 attacks each, 3 model checks


def test_ray_tasks_give_the_sequential_numbers(
    tmp_path: Path, sequential_outcome: dict[str, object]
) -> None:
    ray = pytest.importorskip("ray", reason="the ray extra is installed by CI (pip install .[dev])")
    from lilbench.results.executors import RayExecutor

    try:
        with RayExecutor(address=None, workers=2) as ex:
            assert ex.workers == 2
            distributed = _run(tmp_path, "runs", ex)
    finally:
        ray.shutdown()
    assert distributed == sequential_outcome


def test_bad_executor_options_fail_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from helpers import cli

    suite = Path(__file__).resolve().parent.parent / "suites" / "ci.yaml"
    for args, message in (
        (["--workers", "0"], "--workers must be >= 1"),
        (["--address", "auto"], "add --executor ray"),
    ):
        code, _, err = cli(["run", str(suite), "--runs-dir", str(tmp_path), *args], capsys)
        assert code == 2 and message in err and "items" not in err, err
    assert not (tmp_path / "models").exists()
    with pytest.raises(ConfigError, match="unknown executor"):
        make_executor("dask")
    with pytest.raises(ConfigError, match="--workers must be >= 1"):
        make_executor("local", workers=0)
    with pytest.raises(ConfigError, match="--executor ray"):
        make_executor("local", address="ray://head:10001")
