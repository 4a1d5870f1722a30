#!/usr/bin/env bash
# Training images/s of this working tree against an earlier commit, side by side.
#
#   benchmarks/train_throughput_vs.sh BASE_REV [ROUNDS] [ferflow benchmark train options...]
#   benchmarks/train_throughput_vs.sh 0ad5102 2 --backbones resnet18,resnet50,cpu_net --width 1.0
#
# BASE_REV is checked out as a git worktree in a temporary folder; both trees run with this
# venv (`PYTHONPATH` puts the tree's src/ first), alternating base and current for ROUNDS
# rounds, so a noisy shared machine slows both alike. Compare the ratios, not the seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
base_rev=${1:?usage: $0 BASE_REV [ROUNDS] [benchmark options]}
rounds=${2:-2}
shift $(( $# >= 2 ? 2 : 1 ))
options=("$@")
[ ${#options[@]} -gt 0 ] || options=(--batch-size 64 --steps 10)
base_tree=$(mktemp -d /tmp/ferflow-base.XXXXXX)
trap 'git worktree remove --force "$base_tree" >/dev/null 2>&1 || rm -rf "$base_tree"' EXIT
git worktree add --quiet --detach "$base_tree" "$base_rev"
grep -o 'avx512[a-z_0-9]*\|avx2\|amx[a-z_0-9]*' /proc/cpuinfo | sort -u | tr '\n' ' ' \
  | sed 's/^/CPU flags: /'; echo
for round in $(seq 1 "$rounds"); do
  for tree in "$base_tree" "$PWD"; do
    label=$([ "$tree" = "$PWD" ] && echo "current ($(git rev-parse --short HEAD)+tree)" \
            || echo "base $base_rev")
    echo "== round $round: $label"
    PYTHONPATH="$tree/src" .venv/bin/ferflow benchmark train "${options[@]}" 2>/dev/null \
      | tail -n +2
  done
done
