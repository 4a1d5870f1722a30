#!/usr/bin/env bash
# CPU levers for training, side by side: each variant of `ferflow benchmark train` against the
# default (TensorFlow, oneDNN on, float32, batch 64, TensorFlow's own thread counts), in
# alternating rounds so that a noisy shared machine slows all of them alike. Prints the CPU
# flags, then images/s per round and each variant's ratio to the default (median of rounds).
#
#   benchmarks/cpu_levers.sh [ROUNDS] [BACKBONE]        # defaults: 2 rounds, cpu_net
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-2}
backbone=${2:-cpu_net}
FERFLOW=${FERFLOW:-.venv/bin/ferflow}
grep -o 'avx512[a-z_0-9]*\|avx2\|amx[a-z_0-9]*' /proc/cpuinfo | sort -u | tr '\n' ' ' \
  | sed 's/^/CPU flags: /'; echo "($(nproc) cores)"
# label | environment | options
variants=(
  "default||"
  "oneDNN off|TF_ENABLE_ONEDNN_OPTS=0|"
  "1 intra-op thread|TF_NUM_INTRAOP_THREADS=1|"
  "1 inter-op thread|TF_NUM_INTEROP_THREADS=1|"
  "batch 32||--batch-size 32"
  "batch 128||--batch-size 128"
  "bfloat16 compute|TF_ENABLE_ONEDNN_OPTS=1|--precision mixed_bfloat16"
)
results=$(mktemp)
trap 'rm -f "$results"' EXIT
for round in $(seq 1 "$rounds"); do
  for variant in "${variants[@]}"; do
    IFS='|' read -r label environment options <<<"$variant"
    # shellcheck disable=SC2086  # options and environment are word lists
    line=$(env $environment "$FERFLOW" benchmark train --backbones "$backbone" --steps 20 \
           --batch-size 64 $options --json 2>/dev/null | sed -n '/^\[/,$p' \
           | python3 -c 'import json,sys; print("%.1f" % json.load(sys.stdin)[0]["images_per_s"])')
    echo "round $round: $label: $line images/s"
    echo "$label|$line" >>"$results"
  done
done
python3 - "$results" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    label, value = line.rstrip("\n").split("|")
    rows.setdefault(label, []).append(float(value.split()[0]))
base = statistics.median(rows["default"])
print(f"{'variant':<20} {'images/s (median)':>18} {'vs default':>11}")
for label, values in rows.items():
    m = statistics.median(values)
    print(f"{label:<20} {m:>18.1f} {m / base:>10.2f}x")
PY
