"""The user guide: it builds with `mkdocs build --strict` (a broken link fails it), the README
stays a front page, and every shell block marked `<!-- cheap -->` runs as written."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from lilbench.data import default_data_dir

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
MARK = "<!-- cheap -->"
BIN = Path(sys.executable).parent


def _pages() -> list[Path]:
    """The guide's pages in the order of mkdocs.yml's nav."""
    nav = yaml.safe_load((ROOT / "mkdocs.yml").read_text())["nav"]
    return [DOCS / next(iter(entry.values())) for entry in nav]


def cheap_blocks() -> list[tuple[str, str]]:
    """(page, shell text) of every block that follows the marker, in the guide's order."""
    found = []
    for page in _pages():
        text = page.read_text()
        for m in re.finditer(re.escape(MARK) + r"\n```bash\n(.*?)```", text, re.S):
            found.append((page.name, m[1]))
    return found


def _mkdocs(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            str(BIN / "mkdocs"),
            "build",
            "--strict",
            "-f",
            str(config),
            "-d",
            str(config.parent / "site"),
        ],
        capture_output=True,
        text=True,
    )


def test_the_guide_builds_strict_and_a_broken_link_fails_it(tmp_path: Path) -> None:
    if shutil.which("mkdocs", path=str(BIN)) is None:
        pytest.fail("mkdocs is not installed: `bash scripts/setup.sh dev` installs it")
    copy = tmp_path / "guide"
    shutil.copytree(DOCS, copy / "docs")
    shutil.copy(ROOT / "mkdocs.yml", copy / "mkdocs.yml")
    done = _mkdocs(copy / "mkdocs.yml")
    assert done.returncode == 0, done.stderr
    page = copy / "docs" / "attacks.md"
    page.write_text(page.read_text() + "\nSee [the missing page](nowhere.md).\n")
    done = _mkdocs(copy / "mkdocs.yml")
    assert done.returncode != 0 and "nowhere.md" in done.stderr


def test_the_readme_is_a_front_page_that_links_every_guide_page() -> None:
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 250
    for page in _pages():
        if page.name != "index.md":
            assert f"(docs/{page.name})" in readme, page.name
    assert "make paper" in readme and "make test" in readme


def test_the_cheap_examples_run_as_written(tmp_path: Path) -> None:
    blocks = cheap_blocks()
    commands = [
        line
        for _, text in blocks
        for line in text.splitlines()
        if line.strip().startswith("lilbench")
    ]
    assert len(blocks) >= 6 and len(commands) >= 12, (len(blocks), len(commands))
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "LILBENCH_DATA_DIR": str(default_data_dir()),
        "COLUMNS": "100",
    }
    for page, text in blocks:
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", text],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, f"{page}:\n{text}\n{done.stderr[-2000:]}"
