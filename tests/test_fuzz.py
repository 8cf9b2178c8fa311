"""Property-based fuzzing: any suite file or training option either is accepted or is refused
with one line and exit 2 (a LilbenchError), never a traceback."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import lilbench.training.pipeline as pipeline
from lilbench.cli import main
from lilbench.errors import LilbenchError
from lilbench.suites import load_suite

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 100_000),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["1e-3", "0.01:1:10", "fgsm", "pgd", "lil", "pgd-at", "local", ".nan"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.sampled_from(["name", "eps", "beta", "objective", "steps"]), inner),
    ),
    max_leaves=8,
)
TOP = ["name", "betas", "methods", "seeds", "test_limit", "attacks", "train", "dataset", "x"]
suites = st.dictionaries(st.sampled_from(TOP), values, max_size=6)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=suites)
# Always tried besides the random ones: an accepted suite, and the values a broken range
# check would let through (a negative beta, eps outside [0, 1], a non-finite number).
@example(
    raw={"name": "s", "betas": [0, 1], "attacks": [{"name": "fgsm", "eps": [0.1, "0.01:1:3"]}]}
)
@example(raw={"name": "s", "betas": [-1]})
@example(raw={"name": "s", "betas": [float("nan")]})
@example(raw={"name": "s", "betas": [0], "attacks": [{"name": "fgsm", "eps": [1.5]}]})
@example(raw={"name": "s", "betas": [0], "attacks": [{"name": "pgd", "eps": [-0.1]}]})
@example(raw={"name": "s", "methods": [{"objective": "pgd-at", "eps": [float("inf")]}]})
def test_any_suite_is_loaded_or_refused_in_one_line(
    raw: dict[str, Any], tmp_path_factory: Any
) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "suite.yaml"
    path.write_text(yaml.safe_dump(raw))
    try:
        suite = load_suite(path)
    except LilbenchError as exc:
        assert "\n" not in str(exc).strip() and str(exc)
        return
    # accepted: a suite that can be run, with every number in its range
    assert suite.settings and suite.seeds
    for setting in suite.settings:
        assert math.isfinite(setting.beta) and setting.beta >= 0, setting
        config = suite.train_config(setting, suite.seeds[0])
        values = [*config.to_dict().values(), *(config.objective_params or {}).values()]
        floats = [v for v in values if isinstance(v, float)]
        assert all(math.isfinite(v) for v in floats), config
    for spec in suite.attacks:
        for point in spec.points():
            assert 0 <= point.eps <= 1 and math.isfinite(point.step) and point.step >= 0, spec
    assert suite.test_limit is None or suite.test_limit > 0


class WouldTrain(Exception):
    pass


OPTIONS = [
    "--beta",
    "--alpha",
    "--k",
    "--lr",
    "--epochs",
    "--width",
    "--eps",
    "--objective",
    "--mode",
    "--train-limit",
    "--beta-trades",
    "--lambda-jr",
    "--batch-size",
]
option_values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.integers(-3, 10**6).map(str),
    st.sampled_from(["nan", "inf", "-inf", "1e-3", "lil", "pgd-at", "trades", "local", "x", ""]),
)


# capsys is read (and so emptied) once per example.
@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(pairs=st.lists(st.tuples(st.sampled_from(OPTIONS), option_values), max_size=4))
def test_any_training_options_are_accepted_or_refused_in_one_line(
    pairs: list[tuple[str, str]], tmp_path_factory: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = tmp_path_factory.mktemp("runs")
    args = ["train", "--runs-dir", str(runs)] + [x for pair in pairs for x in pair]

    def refuse(config: Any, **_: Any) -> None:
        # Reached only with a valid config: every float in it is finite.
        floats = [v for v in config.to_dict().values() if isinstance(v, float)]
        assert all(math.isfinite(v) for v in floats)
        raise WouldTrain

    original = pipeline.ensure_checkpoint
    pipeline.ensure_checkpoint = refuse  # type: ignore[assignment]
    try:
        with pytest.raises((SystemExit, WouldTrain)) as exc:
            main(args)
    finally:
        pipeline.ensure_checkpoint = original
    err = capsys.readouterr().err
    if exc.type is SystemExit:
        assert exc.value.code == 2, err
        assert err.startswith("error:") and "Traceback" not in err
    assert not any(Path(runs).iterdir())  # nothing written either way
