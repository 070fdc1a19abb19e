#!/usr/bin/env bash
# Scores pulse-timeseries' anomaly detector on the NAB developers' split.
#
# Runs the same batch detect the analyzer uses over every file in
# $NAB_DIR/data (default: ../shared/nab relative to the repository root),
# then NAB's scoring rules (score.py, which lives beside the data and is not
# part of this repository) and prints the standard / low-FP / low-FN scores.
#
#   analyzer/timeseries/eval-nab.sh [--config FILE.json] [--json]
#
# Extra arguments: `--config FILE.json` is passed to the detector, `--json`
# to score.py. KEEP_RESULTS=DIR keeps the score files.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo_root"
nab_dir="${NAB_DIR:-../shared/nab}"
case "$nab_dir" in
  /*) ;;
  *) nab_dir="$repo_root/$nab_dir" ;;
esac
if [[ ! -f "$nab_dir/score.py" || ! -d "$nab_dir/data" ]]; then
  echo "eval-nab: no NAB split at $nab_dir (set NAB_DIR)" >&2
  exit 1
fi

detect_args=()
score_args=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --config) detect_args+=(--config "$2"); shift 2 ;;
    --json) score_args+=(--json); shift ;;
    *) echo "eval-nab: unknown argument $1" >&2; exit 2 ;;
  esac
done

cargo build --quiet --release -p pulse-timeseries --example detect
results="${KEEP_RESULTS:-$(mktemp -d)}"
if [[ -z "${KEEP_RESULTS:-}" ]]; then
  trap 'rm -rf "$results"' EXIT
fi

start=$(date +%s.%N)
"$repo_root/target/release/examples/detect" "$nab_dir/data" "$results" "${detect_args[@]}"
end=$(date +%s.%N)
echo "detect: $(python3 -c "print(f'{$end - $start:.2f}')") s wall for the whole split" >&2

python3 "$nab_dir/score.py" \
  --data "$nab_dir/data" \
  --labels "$nab_dir/combined_windows_dev.json" \
  --results "$results" "${score_args[@]}"
