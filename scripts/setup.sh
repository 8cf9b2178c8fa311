#!/usr/bin/env bash
# Create .venv and install lilbench; `setup.sh dev` adds the test and lint tools and the
# optional extras the tests use (ray, pandas, pyarrow, ripser, persim). Safe to run again (reuses the venv).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
# The torch build that installs from local disk on these machines (see README); elsewhere
# any torch in pyproject's range works, so a torch that is already there is kept.
if ! .venv/bin/python -c "import torch, torchvision" 2>/dev/null; then
  case "$(uname -m)" in
    aarch64) .venv/bin/pip install --quiet torch==2.9.1 torchvision==0.24.1 ;;
    *) .venv/bin/pip install --quiet torch==2.14.1 torchvision==0.29.1 ;;
  esac
fi
if [ "${1:-}" = "dev" ]; then
  .venv/bin/pip install --quiet -e ".[dev]"
else
  # The topology extra: the main job's report (suites/paper-mnist.yaml) measures topology.
  .venv/bin/pip install --quiet -e ".[topology]"
fi
echo "lilbench installed in .venv ($(.venv/bin/lilbench --version 2>/dev/null || echo ok))"
