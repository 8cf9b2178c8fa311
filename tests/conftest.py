from __future__ import annotations

from pathlib import Path

import pytest
import torch

from lilbench.data import Dataset, default_data_dir, load_dataset
from lilbench.training.config import TrainConfig
from lilbench.training.pipeline import Trained, ensure_checkpoint


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--runslow",
        action="store_true",
        help="also run the full-size tests (the paper's toy settings, minutes each)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Skipped with a reason that `-rs` prints, never silently.
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="full-size run: pass --runslow to run it")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def mnist() -> Dataset:
    # Prepares MNIST on demand (the CI script prepares it ahead); never skipped.
    return load_dataset("mnist")


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return default_data_dir()


@pytest.fixture(scope="session")
def session_runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("runs")


@pytest.fixture(scope="session")
def paper_model(session_runs: Path) -> Trained:
    """The paper's MNIST model at beta = 1 (full data, 5 epochs): trained once per session."""
    return ensure_checkpoint(TrainConfig(beta=1.0), runs_dir=session_runs)


@pytest.fixture(scope="session")
def small_model(session_runs: Path) -> Trained:
    """A quick beta = 0 model (2,000 images, 1 epoch) for tests that need any trained net."""
    return ensure_checkpoint(TrainConfig(beta=0.0, limit=2000, epochs=1), runs_dir=session_runs)


@pytest.fixture(autouse=True)
def _threads() -> None:
    torch.set_num_threads(2)
