"""Every config hash and record key the committed suites expand to, as JSON (one run).

`tests/test_keys_stable.py` compares this with `tests/fixtures/suite_keys.json`, recorded
before the refactor of issue 31: a change of any name under which earlier results are stored
shows as a difference. Record keys are computed for a stand-in weights hash ("W"): what is
compared is the part of the key that the suite's settings make.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from lilbench.attacks.grids import legacy_log_grid
from lilbench.io import canonical_json, sha256_bytes
from lilbench.results.records import SCHEMA, _attack_ident
from lilbench.suites import load_suite

ROOT = Path(__file__).resolve().parent.parent


def suite_keys(path: Path, *, migrated: bool = False) -> dict[str, Any]:
    """The keys now; with `migrated`, a record's key before the migrations that
    find_record performs on first use (so that the keys recorded earlier can be compared)."""
    suite = load_suite(path)
    configs = {}
    for setting in suite.settings:
        if setting.external is not None:
            continue
        for seed in suite.seeds:
            cfg = suite.train_config(setting, seed)
            # The hash names the checkpoint; the label names the row; the stored config is
            # what checkpoints' metadata holds.
            configs[f"{setting.label} seed={seed}"] = {
                "hash": cfg.config_hash(),
                "label": cfg.label(),
                "stored": sha256_bytes(canonical_json(cfg.to_dict()).encode()),
            }
    attacks = {}
    for spec in suite.attacks:
        for seed in suite.seeds:
            params = spec.params()
            if migrated:  # the key the record had before a migration (exact grid ends)
                old = legacy_log_grid(tuple(params.get("eps") or ()))
                params = {**params, "eps": list(old)} if old is not None else params
            key = _attack_ident("W", spec, suite.test_limit, seed, SCHEMA, "cpu", params)
            attacks[f"{spec.name} {canonical_json(params)} seed={seed}"] = key
    certify = None
    linf = suite.certify_in("inf")
    if linf is not None:
        params = linf.params()
        if migrated:  # the key before alpha-crown joined a suite's methods (issue 35)
            params = {**params, "methods": [m for m in params["methods"] if m != "alpha-crown"]}
        certify = sha256_bytes(canonical_json(params).encode())
    return {"configs": configs, "attacks": attacks, "certify": certify}


def suite_files() -> list[Path]:
    """The suites under suites/ (claims files, which hold a top-level `claims:`, are not)."""
    import yaml

    return [
        p
        for p in sorted((ROOT / "suites").glob("*.yaml"))
        if "claims" not in (yaml.safe_load(p.read_text()) or {})
    ]


def main() -> None:
    out = {p.name: suite_keys(p) for p in suite_files()}
    json.dump(out, sys.stdout, indent=1, sort_keys=True)
    print()


if __name__ == "__main__":
    main()
