#!/usr/bin/env bash
# NAB evaluation in CI: scores the shared NAB developers' split with `pulse-analyzer detect`
# (the live detector's code path), runs NAB's scoring rules (score.py, kept beside the data and
# not part of this repository) and prints the standard / low-FP / low-FN scores.
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

# Floors: measured standard 69.8 / low FP 62.5 / low FN 74.4, minus 3 points.
floor_standard=66.8
floor_low_fp=59.5
floor_low_fn=71.4

profile="${PROFILE:-debug}"
build_args=(--quiet --locked -p pulse-analyzer --bin pulse-analyzer)
[[ $profile == release ]] && build_args+=(--release)
cargo build "${build_args[@]}"
binary="${CARGO_TARGET_DIR:-$repo_root/target}/$profile/pulse-analyzer"

results="$(mktemp -d)"
trap 'rm -rf "$results"' EXIT
# An empty config file: the built-in detector defaults, whatever ./analyzer.yml holds.
: >"$results/empty.yml"
start=$(date +%s.%N)
"$binary" --config.file "$results/empty.yml" detect \
    --input-dir "$nab_dir/data" --output-dir "$results/scores"
end=$(date +%s.%N)
echo "tests/nab: detect took $(python3 -c "print(f'{$end - $start:.1f}')") s ($profile build)" >&2

python3 "$nab_dir/score.py" --json \
    --data "$nab_dir/data" \
    --labels "$nab_dir/combined_windows_dev.json" \
    --results "$results/scores" >"$results/score.json"

python3 - "$results/score.json" "$floor_standard" "$floor_low_fp" "$floor_low_fn" <<'PY'
import json
import sys

scores = json.load(open(sys.argv[1]))["nab"]
floors = dict(zip(("standard", "reward_low_FP_rate", "reward_low_FN_rate"), map(float, sys.argv[2:5])))
failed = False
for profile, floor in floors.items():
    score = scores[profile]
    ok = score >= floor
    failed |= not ok
    print(f"NAB {profile:20s} {score:6.2f}  (floor {floor:.1f}) {'ok' if ok else 'BELOW FLOOR'}")
sys.exit(1 if failed else 0)
PY
