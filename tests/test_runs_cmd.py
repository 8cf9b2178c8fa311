"""`lilbench runs list | gc` on a copy of the fixture runs directory with garbage added."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from lilbench.cli import main
from lilbench.results.inventory import collect_garbage, inventory

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "old-runs"


def _garbage(runs: Path) -> set[str]:
    rec = next(runs.glob("attacks/*/fgsm-*.json"))
    stale = json.loads(rec.read_text())
    stale["checkpoint"]["weights_sha256"] = "0" * 64  # computed on other weights
    (rec.parent / "fgsm-stale.json").write_text(json.dumps(stale))
    (rec.parent / "broken.json").write_text("{not json")
    orphan = runs / "attacks" / "feedfacecafebeef"
    orphan.mkdir()
    shutil.copy(rec, orphan / rec.name)
    (runs / "models" / ".0123.scratch").mkdir()
    (runs / "attacks" / f".{rec.name}.x.tmp").write_text("half")
    (runs / "models" / "0123.lock").write_text("")  # not garbage, but gc tidies it
    cert = runs / "certificates" / rec.parent.name / "certify-0123456789abcdef.json"
    cert.parent.mkdir(parents=True)
    cert.write_text('{"schema": 1, "kind": "certificate", "checkpoint": {"config_')  # truncated
    topo = runs / "topology" / rec.parent.name / "topology-0123456789abcdef.json"
    topo.parent.mkdir(parents=True)
    topo.write_text(json.dumps({"schema": 2, "weights": "0" * 64, "classes": []}))  # stale
    diag = runs / "diagnostics" / rec.parent.name / "mechanism-0123456789abcdef.json"
    diag.parent.mkdir(parents=True)
    diag.write_text(json.dumps({"schema": 1, "kind": "mechanism", "values": {}}))  # no weights
    return {
        f"certificates/{rec.parent.name}/{cert.name}",
        f"topology/{rec.parent.name}/{topo.name}",
        f"diagnostics/{rec.parent.name}/{diag.name}",
        f"attacks/{rec.parent.name}/fgsm-stale.json",
        f"attacks/{rec.parent.name}/broken.json",
        f"attacks/feedfacecafebeef/{rec.name}",
        "models/.0123.scratch",
        f"attacks/.{rec.name}.x.tmp",
    }


def test_gc_removes_exactly_the_garbage(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    shutil.copytree(FIXTURE, runs)
    ok_before = {e.path for e in inventory(runs)}
    assert all(not e.garbage for e in inventory(runs))
    expected = _garbage(runs)
    found = {str(e.path.relative_to(runs)) for e in inventory(runs) if e.garbage}
    assert found == expected
    tidied = expected | {"models/0123.lock"}
    assert {str(e.path.relative_to(runs)) for e in collect_garbage(runs, dry_run=True)} == tidied
    assert all((runs / p).exists() for p in tidied)  # a dry run removes nothing
    collect_garbage(runs, dry_run=False)
    assert not any((runs / p).exists() for p in tidied)
    assert {e.path for e in inventory(runs)} == ok_before  # everything valid is still there


def test_runs_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runs = tmp_path / "runs"
    shutil.copytree(FIXTURE, runs)
    _garbage(runs)
    with pytest.raises(SystemExit) as exc:
        main(["runs", "list", "--runs-dir", str(runs), "--json"])
    assert exc.value.code == 0
    listed = json.loads(capsys.readouterr().out)["entries"]
    assert sum(e["kind"] == "model" and e["status"] == "ok" for e in listed) == 2
    with pytest.raises(SystemExit) as exc:
        main(["runs", "gc", "--runs-dir", str(runs), "--json"])
    assert len(json.loads(capsys.readouterr().out)["removed"]) == 9
