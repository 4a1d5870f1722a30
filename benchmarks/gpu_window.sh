#!/usr/bin/env bash
# One GPU window in one device call (see src/ferflow/tools/gpu_window.py). First, here:
#   .venv/bin/ferflow gpu-window prepare          # .gpuwin/: packed dev arrays + wheels
# then the device tool's run, carrying .gpuwin, with timeout_s 600:
#   bash benchmarks/gpu_window.sh
# Rehearsal on a CPU, same script: PYTHON=.venv/bin/python bash benchmarks/gpu_window.sh --rehearse
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
FOLDER=${GPUWIN:-.gpuwin}
OUT=${OUT:-gpu-window-out}
mkdir -p "$OUT"
rehearse=false
for arg in "$@"; do [ "$arg" = "--rehearse" ] && rehearse=true; done
if [ -d "$FOLDER/whl" ] && [ "$rehearse" = false ]; then
  # The GPU host has JAX but not Keras or pydantic: install the carried wheels beside it
  # (built for its Python 3.12; a rehearsal uses this machine's own Keras instead).
  "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/ferflow-site "$FOLDER"/whl/*.whl
  export PYTHONPATH=/tmp/ferflow-site
fi
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" KERAS_BACKEND=${KERAS_BACKEND:-jax}
export PYTHONUNBUFFERED=1
"$PYTHON" -m ferflow gpu-window run --folder "$FOLDER" --out "$OUT" "$@" 2>&1 | tee "$OUT/log.txt"
