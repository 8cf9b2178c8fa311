"""The layers hold: import-linter's contract (pyproject.toml) passes and fails on an upward
import added in a scratch copy; no import cycle among lilbench's modules, function-level
imports included; modules and functions stay small."""

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


# Numerical kernels that stay whole: one iteration loop each, whose state (step sizes,
# checkpoints, best points; the window pairs' masses) reads best in one place.
KERNELS = {"attacks/kernels/apgd.py:apgd_iterate", "attacks/kernels/square.py:window_pairs"}
MAX_MODULE, MAX_FUNCTION = 450, 100


def _oversized(root: Path) -> list[str]:
    found = []
    for path in sorted((root / "lilbench").rglob("*.py")):
        name = path.relative_to(root / "lilbench").as_posix()
        text = path.read_text()
        if len(text.splitlines()) > MAX_MODULE:
            found.append(f"{name} ({len(text.splitlines())} lines)")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION and f"{name}:{node.name}" not in KERNELS:
                    found.append(f"{name}:{node.name} ({length} lines)")
    return found


def test_modules_and_functions_stay_small(tmp_path: Path) -> None:
    """Issue 50: no module over 450 lines, no function over 100 (the named kernels aside);
    shown to fail on a scratch module with one long function."""
    assert _oversized(ROOT) == []
    scratch = tmp_path / "lilbench"
    scratch.mkdir()
    body = "".join(f"    x{i} = {i}\n" for i in range(101))
    (scratch / "long.py").write_text(f"def long() -> None:\n{body}")
    assert _oversized(tmp_path) == ["long.py:long (102 lines)"]
