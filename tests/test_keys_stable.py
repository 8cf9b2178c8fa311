"""Every name under which earlier results are stored stays the same: config hashes, labels,
stored configs and record keys of every committed suite's expanded items, against the values
recorded before issue 31's refactor (tests/fixtures/suite_keys.json, by scripts/suite_keys.py)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_committed_suites_keep_every_key() -> None:
    spec = importlib.util.spec_from_file_location("suite_keys", ROOT / "scripts/suite_keys.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    recorded = json.loads((ROOT / "tests/fixtures/suite_keys.json").read_text())
    now = {name: module.suite_keys(ROOT / "suites" / name) for name in recorded}
    assert sorted(recorded) == sorted(
        p.name for p in (ROOT / "suites").glob("*.yaml") if p.name != "paper-claims.yaml"
    )
    for name in recorded:
        assert now[name] == recorded[name], name
