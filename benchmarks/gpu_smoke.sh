#!/usr/bin/env bash
# GPU smoke test, at most 10 minutes of GPU time: `bash benchmarks/gpu_smoke.sh [--device cuda]`.
# `--device cpu --quick` is the dry run the tests do on machines without a GPU.
# Prints one line per check (PASS/FAIL name: detail) and a summary; exits 1 if any failed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
DEVICE=cuda
EXTRA=()
while [ $# -gt 0 ]; do
  case "$1" in
    --device) DEVICE="$2"; shift 2 ;;
    --quick) EXTRA+=(--quick); shift ;;
    --out) EXTRA+=(--out "$2"); shift 2 ;;
    *) echo "usage: $0 [--device cuda|cuda:N|cpu] [--quick] [--out DIR]" >&2; exit 2 ;;
  esac
done
if [ "$DEVICE" != cpu ]; then
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
fi
exec timeout 600 "$PY" benchmarks/gpu_smoke.py --device "$DEVICE" "${EXTRA[@]}"
