"""The topology diagnostic on point clouds whose answer is known, and its cache."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from lilbench import topology
from lilbench.data import Dataset
from lilbench.errors import ConfigError
from lilbench.results import topology_records
from lilbench.training.pipeline import Trained


def noisy_circle(n: int = 150, noise: float = 0.05, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = rng.uniform(0, 2 * math.pi, n)
    # A circle in 3-D, as the rings are.
    x = np.stack([np.cos(t), np.sin(t), np.zeros(n)], axis=1)
    return x + noise * rng.normal(size=x.shape)


def test_a_noisy_circle_has_one_loop_and_the_identity_keeps_it() -> None:
    x = noisy_circle()
    same = topology.compare(x, x.copy())
    assert same.betti_input[1] == 1  # one persistent H1 feature: the loop
    assert same.betti_input[0] == 1  # one connected component
    assert same.h1_input > 0.5  # far above the threshold (0.25 of the mean distance)
    assert same.betti_phi == same.betti_input
    assert same.bottleneck_h1 < 1e-9


def test_collapsing_the_circle_onto_a_segment_loses_the_loop() -> None:
    x = noisy_circle()
    segment = x[:, :1]  # projection onto one axis: the circle folded onto [-1, 1]
    folded = topology.compare(x, segment)
    assert folded.betti_input[1] == 1
    assert folded.betti_phi[1] == 0
    assert folded.h1_phi < topology.THRESHOLD
    assert folded.bottleneck_h1 > 0.3  # the loop's lifetime is lost: half of it, at least


def test_a_scaled_cloud_gives_the_same_normalised_diagram() -> None:
    x = noisy_circle(seed=3)
    rotation = np.linalg.qr(np.random.default_rng(1).normal(size=(3, 3)))[0]
    for a, b in zip(topology.diagrams(x), topology.diagrams(7.3 * x @ rotation), strict=True):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-9)
    assert topology.compare(x, 7.3 * x).bottleneck_h1 < 1e-6


def test_missing_extra_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(topology.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ConfigError, match=r"lilbench\[topology\]"):
        topology.require()


def test_records_are_cached_by_weights_and_settings(
    small_model: Trained, mnist: Dataset, tmp_path: Path
) -> None:
    ckpt = small_model.checkpoint
    assert (
        topology_records.ensure_topology(
            tmp_path, ckpt, mnist, max_points=30, compute_missing=False
        )
        is None
    )
    first = topology_records.ensure_topology(tmp_path, ckpt, mnist, max_points=30, seed=0)
    assert first is not None
    assert len(first.classes) == 10 and {c["points"] for c in first.classes} == {30}
    path = topology_records.record_path(tmp_path, ckpt, mnist, first.dump()["params"])
    # Reused: the record on disk is what comes back (mark it and see the mark).
    marked = {**first.dump(), "seconds": -1.0}
    path.write_text(json.dumps(marked))
    again = topology_records.ensure_topology(tmp_path, ckpt, mnist, max_points=30)
    assert again is not None and again.seconds == -1
    # Other settings are another record.
    other = topology_records.ensure_topology(tmp_path, ckpt, mnist, max_points=20, seed=0)
    assert other is not None and {c["points"] for c in other.classes} == {20}


def test_a_suite_asking_for_topology_without_the_extra_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from lilbench.suites import load_suite

    suite = Path("suites/rings.yaml").read_text()
    assert "topology: true" in suite
    path = tmp_path / "rings.yaml"
    path.write_text(suite)
    assert load_suite(path).topology
    monkeypatch.setattr(topology.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ConfigError, match=r"topology: .*pip install 'lilbench\[topology\]'"):
        load_suite(path)
