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


NORM_WORDS = {"inf", "2", "1", "linf", "l2", "l1", "L-inf", "L2", "L1"}
LABEL_SUFFIXES = {"-l2", "-l1", "-paper"}
SUFFIX_CALLS = {"endswith", "startswith", "removesuffix", "removeprefix"}


def _consts(node: ast.AST) -> list[str]:
    """String constants of a node, and of a tuple, list or set of them."""
    items = node.elts if isinstance(node, ast.Tuple | ast.List | ast.Set) else [node]
    return [n.value for n in items if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def norm_comparisons(root: Path = ROOT) -> list[str]:
    """Comparisons with a norm's name or key, and label-suffix tests, outside
    lilbench/threats/ (the threat models answer those)."""
    found = []
    for path in sorted(root.rglob("*.py")):
        if path.relative_to(root).parts[:1] == ("threats",):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            words: list[str] = []
            if isinstance(node, ast.Compare):
                for side in [node.left, *node.comparators]:
                    words += [w for w in _consts(side) if w in NORM_WORDS | LABEL_SUFFIXES]
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in SUFFIX_CALLS
            ):
                words += [w for a in node.args for w in _consts(a) if w in LABEL_SUFFIXES]
            if words:
                found.append(f"{path.relative_to(root)}:{node.lineno}: {words[0]!r}")
    return found


def test_no_norm_string_or_label_suffix_is_compared_outside_the_threat_models(
    tmp_path: Path,
) -> None:
    assert norm_comparisons() == []
    # The scan finds each kind where it is (comparison, membership, suffix test).
    (tmp_path / "mod.py").write_text(
        'def f(norm, label):\n    if norm == "2":\n        pass\n'
        '    ok = norm in ("inf", "1")\n    return label.endswith("-l2") or ok\n'
    )
    assert norm_comparisons(tmp_path) == ["mod.py:2: '2'", "mod.py:4: 'inf'", "mod.py:5: '-l2'"]
