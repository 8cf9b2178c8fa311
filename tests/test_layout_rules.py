"""Rules of the layout (docs/architecture.md) that a grep can check: no module outside
lilbench/attacks/ names an attack (facts about attacks are on their classes), and no module
but the record module (lilbench/schemas.py) subscripts a record dict."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from lilbench.attacks import ATTACKS

ROOT = Path(__file__).resolve().parent.parent / "lilbench"


def _strings(tree: ast.AST) -> list[tuple[int, str]]:
    """String constants that are not docstrings."""
    docs = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                docs.add(id(body[0].value))
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs
    ]


def attack_names_outside_attacks(root: Path = ROOT) -> list[str]:
    names = set(ATTACKS.names())
    labels = {"pgd-eps", "apgd-ce", "apgd-dlr"}
    words = names | labels | {f"{n}-paper" for n in names | labels}
    pattern = re.compile(r"(?<![\w-])(" + "|".join(map(re.escape, sorted(words))) + r")(?![\w-])")
    found = []
    for path in sorted(root.rglob("*.py")):
        if "attacks" in path.relative_to(root).parts[:1]:
            continue
        for line, text in _strings(ast.parse(path.read_text())):
            if pattern.fullmatch(text) or (
                text.islower() and pattern.search(text) and " " not in text
            ):
                found.append(f"{path.relative_to(root)}:{line}: {text!r}")
    return found


def test_no_attack_is_named_outside_the_attacks_folder(tmp_path: Path) -> None:
    assert attack_names_outside_attacks() == []
    # The scan finds a name where there is one (and leaves docstrings alone).
    (tmp_path / "mod.py").write_text('"""Mentions fgsm."""\nSTRONG = ("fgsm",)\n')
    assert attack_names_outside_attacks(tmp_path) == ["mod.py:2: 'fgsm'"]


def record_subscripts(root: Path = ROOT) -> list[str]:
    found = []
    for path in sorted(root.rglob("*.py")):
        if path.relative_to(root).as_posix() == "schemas.py":  # the record module
            continue
        for i, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r'\b(rec|record)\["', line):
                found.append(f"{path.relative_to(root)}:{i}")
    return found


def test_records_are_typed_outside_the_record_module() -> None:
    assert record_subscripts() == []
