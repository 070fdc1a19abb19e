#!/usr/bin/env bash
# NAB evaluation in CI: scores the shared NAB developers' split with `pulse-analyzer detect`
# (the live detector's code path), runs NAB's scoring rules (score.py, kept beside the data and
# not part of this repository) and prints the standard / low-FP / low-FN scores; then the same
# for the split's files cut into 1,500-row segments (segments.py), which scores how the
# detector does on short series, before its slower parts have warmed up; for the split with
# irregular sampling (gappy.py); for the split rolled up to 15-minute rows (resample.py); and
# for generated tweet-like counts (counts.py), with surges and healthy. The last four stand in
# for the kinds of series NAB's held-out part has and its shared split does not.
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

# Floors: 3 points under the scores measured when each was set (November 2026), rounded down,
# and never lowered. The unshifted split: measured 73.2 / 66.9 / 77.9.
floor_standard=70.4
floor_low_fp=64.3
floor_low_fn=75.0
# The split started 1..6 rows later (shifted.py): with the unshifted split, every alignment of
# ART's 7-sample blocks, whose mean is what a file starting at an unknown row can expect (the
# unshifted split alone sat at the lucky end; the six copies scored 69.9-72.2). Measured mean
# of the 7: 71.6 / 65.1 / 76.6.
floor_aligned_standard=68.5
floor_aligned_low_fp=62.1
floor_aligned_low_fn=73.6
# On 1,500-row segments of the same files: measured 52.9 / 40.2 / 60.3 (53.7 / 41.3 / 60.8
# before coarsely sampled series had a young ART: its hourly and 30-minute segments lost).
floor_segments_standard=51.0
floor_segments_low_fp=39.1
floor_segments_low_fn=58.1
# The split with irregular sampling (gappy.py, seed 1: 7 % of the rows dropped, a 2-8 hour hole
# per 2,000 rows, timestamps jittered by 20 % of the step): measured 63.4 / 55.4 / 69.7 (seeds
# 2-5: 64.9, 67.1, 60.3, 68.2 standard).
floor_gappy_standard=60.5
floor_gappy_low_fp=52.4
floor_gappy_low_fn=67.1
# The split at another sampling rate (resample.py --step 900: the mean of every 3 rows of a
# 5-minute file, so the 4,032-row files become 1,344 rows, about as long as NAB's hourly
# ad-exchange files; 34 files, 53 windows): measured 67.3 / 64.8 / 70.7 (55.5 / 53.2 / 57.8
# before coarsely sampled series had a young ART and a warm-up of 25 hours).
floor_coarse_standard=64.3
floor_coarse_low_fp=61.7
floor_coarse_low_fn=67.6
# Tweet-like counts (counts.py, seed 1), like a third of NAB's held-out files: with injected
# surges measured 84.4 / 80.9 / 89.6; healthy, 1.9 points >= 0.3 (the live alert threshold)
# per 10,000 rows, so at most 3.0 (4.1 before ART had a scale for counts).
floor_counts_standard=82.0
floor_counts_low_fp=77.8
floor_counts_low_fn=87.0
ceiling_healthy_counts_alarms=3.0

profile="${PROFILE:-debug}"
build_args=(--quiet --locked -p pulse-analyzer --bin pulse-analyzer)
[[ $profile == release ]] && build_args+=(--release)
cargo build "${build_args[@]}"
binary="${CARGO_TARGET_DIR:-$repo_root/target}/$profile/pulse-analyzer"

results="$(mktemp -d)"
trap 'rm -rf "$results"' EXIT
# An empty config file: the built-in detector defaults, whatever ./analyzer.yml holds.
: >"$results/empty.yml"

# detect NAME DATA: scores every file of DATA into $results/NAME.
detect() {
    local name=$1 data=$2
    local start end
    start=$(date +%s.%N)
    "$binary" --config.file "$results/empty.yml" detect \
        --input-dir "$data" --output-dir "$results/$name"
    end=$(date +%s.%N)
    echo "tests/nab: $name: detect took $(python3 -c "print(f'{$end - $start:.1f}')") s ($profile build)" >&2
}

# score NAME DATA LABELS FLOOR_STANDARD FLOOR_LOW_FP FLOOR_LOW_FN: detect, score, check floors.
failed=0
score() {
    local name=$1 data=$2 labels=$3
    detect "$name" "$data"
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
# Every alignment of ART's blocks: the split started 1..6 rows later, scored with the split
# itself; the floors hold the mean of the 7 (each shift's scores are printed, not checked).
python3 "$repo_root/tests/nab/shifted.py" --data "$nab_dir/data" \
    --labels "$nab_dir/combined_windows_dev.json" --shifts 6 --out "$results/shifted" >&2
for shift in 1 2 3 4 5 6; do
    score "shift-$shift" "$results/shifted/shift-$shift/data" \
        "$results/shifted/shift-$shift/labels.json" 0 0 0
done
python3 - "$results" "$floor_aligned_standard" "$floor_aligned_low_fp" "$floor_aligned_low_fn" <<'PY' || failed=1
import json
import statistics
import sys

results = sys.argv[1]
runs = ["split"] + [f"shift-{shift}" for shift in range(1, 7)]
scores = [json.load(open(f"{results}/{run}.json"))["nab"] for run in runs]
floors = dict(zip(("standard", "reward_low_FP_rate", "reward_low_FN_rate"), map(float, sys.argv[2:5])))
failed = False
for profile, floor in floors.items():
    mean = statistics.mean(run[profile] for run in scores)
    ok = mean >= floor
    failed |= not ok
    print(f"NAB {'aligned':10s} {profile:20s} {mean:6.2f}  (floor {floor:.1f}, mean of 7 alignments) {'ok' if ok else 'BELOW FLOOR'}")
sys.exit(1 if failed else 0)
PY
# Short series: the same files cut into 1,500-row segments (see segments.py).
python3 "$repo_root/tests/nab/segments.py" --data "$nab_dir/data" \
    --labels "$nab_dir/combined_windows_dev.json" --length 1500 --out "$results/seg1500" >&2
score segments "$results/seg1500/data" "$results/seg1500/labels.json" \
    "$floor_segments_standard" "$floor_segments_low_fp" "$floor_segments_low_fn"
# Irregular sampling: the same files with rows missing, holes and jitter (see gappy.py).
python3 "$repo_root/tests/nab/gappy.py" --data "$nab_dir/data" \
    --labels "$nab_dir/combined_windows_dev.json" --seed 1 --out "$results/gappy-data" >&2
score gappy "$results/gappy-data/data" "$results/gappy-data/labels.json" \
    "$floor_gappy_standard" "$floor_gappy_low_fp" "$floor_gappy_low_fn"
# Another sampling rate: every window of the detector counts samples (see resample.py).
python3 "$repo_root/tests/nab/resample.py" --data "$nab_dir/data" \
    --labels "$nab_dir/combined_windows_dev.json" --step 900 --out "$results/coarse-data" >&2
score coarse "$results/coarse-data/data" "$results/coarse-data/labels.json" \
    "$floor_coarse_standard" "$floor_coarse_low_fp" "$floor_coarse_low_fn"
# Bursty counts (see counts.py): surges must outrank the routine bursts, and a healthy count
# series must stay quiet.
python3 "$repo_root/tests/nab/counts.py" --seed 1 --surges --out "$results/counts-data"
score counts "$results/counts-data/data" "$results/counts-data/labels.json" \
    "$floor_counts_standard" "$floor_counts_low_fp" "$floor_counts_low_fn"
python3 "$repo_root/tests/nab/counts.py" --seed 1 --out "$results/healthy-counts-data"
detect healthy-counts "$results/healthy-counts-data/data"
python3 - "$results/healthy-counts" "$ceiling_healthy_counts_alarms" <<'PY' || failed=1
import csv
import sys
from pathlib import Path

rows = alarms = 0
for path in Path(sys.argv[1]).rglob("*.csv"):
    with path.open() as f:
        scores = [float(row["anomaly_score"]) for row in csv.DictReader(f)]
    rows += len(scores)
    alarms += sum(score >= 0.3 for score in scores)
rate, ceiling = alarms / rows * 1e4, float(sys.argv[2])
ok = rate <= ceiling
print(f"healthy counts: {rate:.2f} points >= 0.3 per 10,000 rows (ceiling {ceiling:.1f}) {'ok' if ok else 'ABOVE CEILING'}")
sys.exit(0 if ok else 1)
PY
exit "$failed"
