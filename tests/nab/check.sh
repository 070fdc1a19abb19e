#!/usr/bin/env bash
# NAB evaluation in CI: scores the shared NAB developers' split with `pulse-analyzer detect`
# (the live detector's code path), runs NAB's scoring rules (score.py, kept beside the data and
# not part of this repository) and prints the standard / low-FP / low-FN scores; then the same
# for the split's files cut into 1,500-row segments (segments.py), which scores how the
# detector does on short series, before its slower parts have warmed up.
#
# Fails if the build, the detector or the scorer fails, or if a profile drops below its floor:
# a few points under the scores measured when the floor was set, so noise-free refactors pass
# and a real regression does not. Raise the floors when the detector improves.
#
#   tests/nab/check.sh            # debug binary (as built by `cargo test`)
#   PROFILE=release tests/nab/check.sh
#   NAB_DIR=/path/to/nab tests/nab/check.sh
set -euo pipefail

repo_root="$(git -C "$(dirname "${BASH_SOURCE[0]}")" rev-parse --show-toplevel)"
cd "$repo_root"
nab_dir="${NAB_DIR:-$repo_root/../shared/nab}"
if [[ ! -f "$nab_dir/score.py" || ! -d "$nab_dir/data" ]]; then
    echo "tests/nab: no NAB split at $nab_dir (set NAB_DIR)" >&2
    exit 1
fi

# Floors: measured standard 73.4 / low FP 67.3 / low FN 78.0, minus 3 points.
floor_standard=70.4
floor_low_fp=64.3
floor_low_fn=75.0
# On 1,500-row segments of the same files: measured 51.7 / 40.2 / 59.5, minus 3 points.
floor_segments_standard=48.7
floor_segments_low_fp=37.2
floor_segments_low_fn=56.5

profile="${PROFILE:-debug}"
build_args=(--quiet --locked -p pulse-analyzer --bin pulse-analyzer)
[[ $profile == release ]] && build_args+=(--release)
cargo build "${build_args[@]}"
binary="${CARGO_TARGET_DIR:-$repo_root/target}/$profile/pulse-analyzer"

results="$(mktemp -d)"
trap 'rm -rf "$results"' EXIT
# An empty config file: the built-in detector defaults, whatever ./analyzer.yml holds.
: >"$results/empty.yml"

# score NAME DATA LABELS FLOOR_STANDARD FLOOR_LOW_FP FLOOR_LOW_FN: detect, score, check floors.
failed=0
score() {
    local name=$1 data=$2 labels=$3
    local start end
    start=$(date +%s.%N)
    "$binary" --config.file "$results/empty.yml" detect \
        --input-dir "$data" --output-dir "$results/$name"
    end=$(date +%s.%N)
    echo "tests/nab: $name: detect took $(python3 -c "print(f'{$end - $start:.1f}')") s ($profile build)" >&2
    python3 "$nab_dir/score.py" --json --data "$data" --labels "$labels" \
        --results "$results/$name" >"$results/$name.json"
    python3 - "$name" "$results/$name.json" "${@:4}" <<'PY' || failed=1
import json
import sys

name, path = sys.argv[1:3]
scores = json.load(open(path))["nab"]
floors = dict(zip(("standard", "reward_low_FP_rate", "reward_low_FN_rate"), map(float, sys.argv[3:6])))
failed = False
for profile, floor in floors.items():
    score = scores[profile]
    ok = score >= floor
    failed |= not ok
    print(f"NAB {name:10s} {profile:20s} {score:6.2f}  (floor {floor:.1f}) {'ok' if ok else 'BELOW FLOOR'}")
sys.exit(1 if failed else 0)
PY
}

score split "$nab_dir/data" "$nab_dir/combined_windows_dev.json" \
    "$floor_standard" "$floor_low_fp" "$floor_low_fn"
# Short series: the same files cut into 1,500-row segments (see segments.py).
python3 "$repo_root/tests/nab/segments.py" --data "$nab_dir/data" \
    --labels "$nab_dir/combined_windows_dev.json" --length 1500 --out "$results/seg1500" >&2
score segments "$results/seg1500/data" "$results/seg1500/labels.json" \
    "$floor_segments_standard" "$floor_segments_low_fp" "$floor_segments_low_fn"
exit "$failed"
