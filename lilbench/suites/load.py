"""`load_suite`: a suite file read, each top-level key parsed by its own parser, and what
only the whole suite can show checked (every setting trains, no two share a label)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lilbench.errors import ConfigError
from lilbench.io import sha256_file
from lilbench.suites.keys import PARSERS, TOP_KEYS, Raw
from lilbench.suites.model import Suite
from lilbench.suites.settings import fail
from lilbench.suites.yaml_io import read_yaml


def load_suite(path: Path) -> Suite:
    from lilbench.plugins import load_plugins

    load_plugins()  # a suite may name a plugin's attack, objective or data set
    path = Path(path)
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    for key in data:
        if key not in TOP_KEYS:
            raise fail(path, str(key), f"unknown key; known: {', '.join(sorted(TOP_KEYS))}")
    raw = Raw(path, data)
    fields: dict[str, Any] = {}
    for _, parse in PARSERS:
        fields.update(parse(raw))
    suite = Suite(path=path, file_sha256=sha256_file(path), **fields)
    try:
        for setting in suite.settings:
            if setting.external is None:
                suite.train_config(setting, suite.seeds[0]).validate()
    except (ConfigError, TypeError) as exc:
        raise fail(path, "train", str(exc)) from None
    labels = [s.label for s in suite.settings]
    for label in labels:
        if labels.count(label) > 1:
            raise fail(path, "methods", f"two settings are both {label!r}; keep one")
    _check_smoothing_scope(suite)
    return suite


def _check_smoothing_scope(suite: Suite) -> None:
    """`smoothing:`'s seeds and settings name the suite's own, and include the reference
    (cross-entropy) when there is one, since every change is measured from it."""
    import difflib

    scope = suite.smoothing_scope
    for seed in scope.seeds or ():
        if seed not in suite.seeds:
            raise fail(suite.path, "smoothing", f"seed {seed} is not among the suite's seeds")
    if scope.settings is None:
        return
    names = [s.label for s in suite.settings]
    known = names + [f"beta={s.beta:g}" for s in suite.settings if s.label == f"{s.beta:g}"]
    for name in scope.settings:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise fail(
                suite.path,
                "smoothing",
                f"no setting is labelled {name!r}{hint}; the labels: {', '.join(names)}",
            )
    covered = [s for s in suite.settings if scope.covers_setting(s)]
    if any(s.reference for s in suite.settings) and not any(s.reference for s in covered):
        ref = next(s.label for s in suite.settings if s.reference)
        raise fail(
            suite.path,
            "smoothing",
            f"settings leaves out the reference {ref!r}, from which every change is measured",
        )
    if scope.test_limit and suite.test_limit and scope.test_limit > suite.test_limit:
        raise fail(
            suite.path,
            "smoothing",
            f"test_limit {scope.test_limit} exceeds the suite's test_limit {suite.test_limit}",
        )
