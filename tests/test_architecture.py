"""The layers hold: import-linter's contract (pyproject.toml) passes and fails on an upward
import added in a scratch copy; no import cycle among lilbench's modules, function-level
imports included; report functions stay short."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parent.parent
LINT = Path(sys.executable).parent / "lint-imports"


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT), "--config", str(root / "pyproject.toml"), "--no-cache"],
        cwd=root,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_an_upward_import_breaks_the_layers(tmp_path: Path) -> None:
    shutil.copytree(
        ROOT / "lilbench", tmp_path / "lilbench", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    assert _lint(tmp_path).returncode == 0  # the copy as it is keeps the contract
    idx = tmp_path / "lilbench/data/idx.py"
    # Function-level, as the hidden ones were: import-linter sees those too.
    idx.write_text(
        idx.read_text()
        + "\n\ndef _upward() -> None:\n    from lilbench.reports import claims  # noqa\n"
    )
    broken = _lint(tmp_path)
    assert broken.returncode != 0
    assert "lilbench.data.idx -> lilbench.reports.claims" in broken.stdout
    # and a report that computes with a model breaks "reports compute nothing from weights"
    idx.write_text(idx.read_text().rsplit("\n\ndef _upward", 1)[0])
    render = tmp_path / "lilbench/reports/render.py"
    render.write_text(
        render.read_text() + "\n\ndef _compute() -> None:\n    import torch  # noqa\n"
    )
    computing = _lint(tmp_path)
    assert computing.returncode != 0
    assert "reports compute nothing from weights BROKEN" in computing.stdout
    assert "lilbench.reports.render -> torch" in computing.stdout


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    adj = {m: sorted(graph.find_modules_directly_imported_by(m)) for m in sorted(graph.modules)}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []
    for root in adj:
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            v, i = work.pop()
            if i == 0:
                index[v] = low[v] = len(index)
                stack.append(v)
                on.add(v)
            if i < len(adj[v]):
                work.append((v, i + 1))
                w = adj[v][i]
                if w not in index:
                    work.append((w, 0))
                elif w in on:
                    low[v] = min(low[v], index[w])
                continue
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    found.append(sorted(comp))
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[v])
    return found


def test_no_import_cycles() -> None:
    graph = grimp.build_graph("lilbench")
    assert _cycles(graph) == []
    # The check sees a cycle where there is one.
    graph.add_import(importer="lilbench.errors", imported="lilbench.registry")
    assert ["lilbench.errors", "lilbench.registry"] in _cycles(graph)


def test_report_functions_are_short() -> None:
    long = []
    for path in sorted((ROOT / "lilbench/reports").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > 120:
                    long.append(f"{path.name}:{node.name} ({length} lines)")
    assert long == []
