"""Every name under which earlier results are stored stays the same: config hashes, labels,
stored configs and record keys of every committed suite's expanded items, against the values
recorded before issue 31's refactor (tests/fixtures/suite_keys.json, by scripts/suite_keys.py)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


# settings added to a recorded suite since, by label prefix
GROWN: dict[str, tuple[str, ...]] = {"defences-mnist.yaml": ("gaussian-aug ",)}


def test_committed_suites_keep_every_key() -> None:
    spec = importlib.util.spec_from_file_location("suite_keys", ROOT / "scripts/suite_keys.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    recorded = json.loads((ROOT / "tests/fixtures/suite_keys.json").read_text())
    now = {name: module.suite_keys(ROOT / "suites" / name) for name in recorded}
    # suites added after the keys were recorded have no earlier results to keep
    added = {"activation-ablation.yaml", "l1-mnist.yaml", "smoothing-mnist.yaml"}
    added |= {"smoothing-mnist-full.yaml"}
    assert sorted([*recorded, *added]) == sorted(p.name for p in module.suite_files())
    for name in recorded:
        # Issue 32 made log grids end exactly (0.3, not 0.29999999999999993): the 12
        # apgd-search records of "0.003:0.3:31" have new keys, and find_record migrates a
        # record from its old key, with a message. Every key is the recorded one, or its
        # record is migrated from the recorded one; nothing else moved. L2 entries (issue
        # 33) are additions with keys of their own.
        before = module.suite_keys(ROOT / "suites" / name, migrated=True)
        # settings a suite gained later (issue 52: Gaussian augmentation in the defences
        # suite) are additions with keys of their own; every recorded one keeps its key
        new = {k: v for k, v in now[name]["configs"].items() if k not in recorded[name]["configs"]}
        assert all(k.startswith(GROWN.get(name, ())) for k in new), (name, sorted(new))
        kept = {k: v for k, v in now[name]["configs"].items() if k in recorded[name]["configs"]}
        assert kept == recorded[name]["configs"], name
        # a suite that added alpha-crown to its certificates (issue 35) computes a new record
        # beside the earlier one; without it, its key is the recorded one
        # (a suite that certified nothing before, as defences-mnist, has nothing to keep)
        if recorded[name]["certify"] is not None:
            assert before["certify"] == recorded[name]["certify"], name
        pairs = zip(now[name]["attacks"].items(), before["attacks"].items(), strict=True)
        seen = set()
        for (item, key), (old_item, old_key) in pairs:
            if '"norm":"2"' in item:
                # an L2 entry (issue 33) is new: its key is its own, never an L-inf record's
                assert key not in recorded[name]["attacks"].values(), (name, item)
                continue
            if recorded[name]["attacks"].get(item) == key:
                seen.add(item)
            else:
                assert item.startswith("apgd-search "), (name, item)
                assert recorded[name]["attacks"].get(old_item) == old_key, (name, item)
                seen.add(old_item)
        assert seen == set(recorded[name]["attacks"]), name
