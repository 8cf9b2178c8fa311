"""`lilbench runs list | gc` on a copy of the fixture runs directory with garbage added."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from lilbench.cli import main
from lilbench.errors import ConfigError
from lilbench.results.inventory import collect_garbage, inventory
from lilbench.store import MARKER, mark_runs_dir

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "old-runs"


def _copy(tmp_path: Path) -> Path:
    """The fixture (written before runs directories carried a marker), adopted."""
    runs = tmp_path / "runs"
    shutil.copytree(FIXTURE, runs)
    mark_runs_dir(runs)
    return runs


def _garbage(runs: Path) -> set[str]:
    rec = next(runs.glob("attacks/*/fgsm-*.json"))
    stale = json.loads(rec.read_text())
    stale["checkpoint"]["weights_sha256"] = "0" * 64  # computed on other weights
    (rec.parent / "fgsm-00000000000000aa.json").write_text(json.dumps(stale))
    (rec.parent / "fgsm-00000000000000bb.json").write_text("{not json")
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
        f"attacks/{rec.parent.name}/fgsm-00000000000000aa.json",
        f"attacks/{rec.parent.name}/fgsm-00000000000000bb.json",
        f"attacks/feedfacecafebeef/{rec.name}",
        "models/.0123.scratch",
        f"attacks/.{rec.name}.x.tmp",
    }


def test_gc_removes_exactly_the_garbage(tmp_path: Path) -> None:
    runs = _copy(tmp_path)
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
    runs = _copy(tmp_path)
    _garbage(runs)
    with pytest.raises(SystemExit) as exc:
        main(["runs", "list", "--runs-dir", str(runs), "--json"])
    assert exc.value.code == 0
    listed = json.loads(capsys.readouterr().out)["entries"]
    assert sum(e["kind"] == "model" and e["status"] == "ok" for e in listed) == 2
    with pytest.raises(SystemExit) as exc:
        main(["runs", "gc", "--runs-dir", str(runs), "--json"])
    assert len(json.loads(capsys.readouterr().out)["removed"]) == 9


def _exit(args: list[str]) -> int:
    with pytest.raises(SystemExit) as exc:
        main(args)
    return int(exc.value.code or 0)


def test_an_unmarked_directory_is_refused_then_adopted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 47.2: list and gc read and delete only in a directory lilbench marked; one an
    earlier lilbench filled is adopted by `runs adopt` (nothing in it changes)."""
    runs = tmp_path / "runs"
    shutil.copytree(FIXTURE, runs)
    before = sorted(p.relative_to(runs) for p in runs.rglob("*"))
    for cmd in ("list", "gc"):
        assert _exit(["runs", cmd, "--runs-dir", str(runs)]) == 2
        assert "runs adopt" in capsys.readouterr().err
    assert _exit(["runs", "list", "--runs-dir", str(tmp_path / "missing")]) == 2
    assert "no such directory" in capsys.readouterr().err
    stranger = tmp_path / "home"
    (stranger / "checks" / "0123456789abcdef").mkdir(parents=True)
    junk = stranger / "checks" / "0123456789abcdef" / "model-checks-0123456789abcdef.json"
    junk.write_text("{not json")
    assert _exit(["runs", "gc", "--runs-dir", str(stranger)]) == 2
    assert _exit(["runs", "adopt", "--runs-dir", str(stranger)]) == 2  # no models/: not ours
    assert junk.exists() and not (stranger / MARKER).exists()
    assert _exit(["runs", "adopt", "--runs-dir", str(runs)]) == 0
    assert sorted(p.relative_to(runs) for p in runs.rglob("*")) == sorted([*before, Path(MARKER)])
    assert _exit(["runs", "list", "--runs-dir", str(runs)]) == 0


def test_gc_never_follows_a_link_out_of_the_runs_directory(tmp_path: Path) -> None:
    """Issue 47.2: an unparsable JSON file behind a symbolic link (a folder under attacks/,
    or attacks/ itself) is outside the runs directory: listed as foreign, never deleted."""
    runs = _copy(tmp_path)
    outside = tmp_path / "elsewhere" / "feedfacecafebeef"
    outside.mkdir(parents=True)
    victim = outside / "fgsm-0123456789abcdef.json"
    victim.write_text("{precious, but not JSON")
    (runs / "attacks" / "0123456789abcdef").symlink_to(outside, target_is_directory=True)
    other = _copy(tmp_path / "b")
    shutil.rmtree(other / "certificates", ignore_errors=True)
    (other / "certificates").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    for r in (runs, other):
        statuses = {e.path.name: e.status for e in inventory(r)}
        assert statuses[victim.name] == "foreign"
        collect_garbage(r, dry_run=False)
        assert victim.read_text() == "{precious, but not JSON"


def test_gc_keeps_the_records_of_a_corrupt_checkpoint(tmp_path: Path) -> None:
    """Issue 47.7: a corrupt checkpoint's records are kept (they serve again once it is
    retrained), not called orphans and deleted."""
    runs = _copy(tmp_path)
    model = next(runs.glob("models/*"))
    (model / "model.safetensors").write_bytes(b"garbage")
    records = list((runs / "attacks" / model.name).glob("*.json"))
    assert records
    entries = {e.path: e for e in inventory(runs)}
    assert all(entries[r].status == "kept" for r in records)
    collect_garbage(runs, dry_run=False)
    assert all(r.exists() for r in records) and model.exists()


def test_list_names_the_whole_path_at_80_columns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 47.16: a narrow terminal folds the path of a malformed file, never cuts it."""
    runs = _copy(tmp_path)
    rec = next(runs.glob("attacks/*/fgsm-*.json"))
    bad = rec.parent / "fgsm-00000000000000bb.json"
    bad.write_text("{not json")
    monkeypatch.setenv("COLUMNS", "80")
    from lilbench.cli import common

    monkeypatch.setattr(common.out, "_width", 80, raising=False)
    assert _exit(["runs", "list", "--runs-dir", str(runs)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert max(len(line) for line in lines) <= 80
    column = "".join(line.split("│")[2].strip() for line in lines if line.count("│") == 6)
    assert str(bad.relative_to(runs)) in column and "…" not in column


def test_require_runs_dir_refuses_a_newer_format(tmp_path: Path) -> None:
    runs = _copy(tmp_path)
    (runs / MARKER).write_text(json.dumps({"format": 99}))
    with pytest.raises(ConfigError, match="newer lilbench"):
        inventory(runs)


def test_a_marker_that_is_not_a_file_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = tmp_path / "runs"
    (runs / "models").mkdir(parents=True)
    (runs / MARKER).mkdir()
    for cmd in ("adopt", "list"):
        assert _exit(["runs", cmd, "--runs-dir", str(runs)]) == 2
        err = capsys.readouterr().err
        assert "Traceback" not in err and "error:" in err
