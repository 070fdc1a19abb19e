#!/usr/bin/env python3
"""Cuts NAB files into short segments, to score how a detector does on short series.

A live detector never knows how long a series will be, and NAB itself has series of
1,100 to 2,500 rows (hourly or sparse ones) where most of the file is over before a slow
warm-up ends. This builds a split of the LENGTH-row segments starting at multiples of
LENGTH / 2 of each file at least 1.2 x LENGTH long, each segment scored as its own file.

A cut must not turn a real anomaly into false positives, nor start a series in the
middle of one, so a window that a cut goes through moves the cut:
- a window that starts inside the segment but ends after it ends the segment at the
  window's start (the series stops before that anomaly);
- a window that is still open when the segment's probationary rows end (the first
  min(15 %, 750) rows, which NAB does not score) starts the segment after the window
  (the series starts after that anomaly).
Segments cut to less than half their length are left out; segments without windows are
kept, as places where any alarm is a false positive.

    segments.py --data DIR --labels FILE --length 1500 --out OUT
    # writes OUT/data/<category>/<name>_<offset>.csv and OUT/labels.json
"""

import argparse
import json
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--labels", type=Path, required=True)
    parser.add_argument("--length", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    length = args.length
    windows_by_file = json.loads(args.labels.read_text())
    labels = {}
    for name, windows in sorted(windows_by_file.items()):
        header, *rows = (args.data / name).read_text().splitlines()
        if len(rows) < 1.2 * length:
            continue
        stamps = [line.split(",", 1)[0] for line in rows]
        row_of = {}
        for row, stamp in enumerate(stamps):
            row_of.setdefault(stamp, row)
        spans = [(row_of[start.split(".")[0]], row_of[end.split(".")[0]]) for start, end in windows]
        for offset in range(0, len(rows) - length + 1, length // 2):
            start, end = offset, offset + length
            for first, _ in (s for s in spans if start < s[0] < end <= s[1]):
                end = min(end, first)
            # The cut must not start the series inside an anomaly: start after the
            # window instead (until no window straddles the probationary rows).
            moved = True
            while moved:
                probation = min(int(0.15 * (end - start)), 750)
                last = max((l for f, l in spans if f < start + probation <= l < end), default=None)
                moved = last is not None
                if moved:
                    start = last + 1
            if end - start < length // 2:
                continue  # cut to a stub between anomalies: not a series of this length
            kept = [
                [stamps[first], stamps[last]] for first, last in spans if start <= first and last < end
            ]
            segment_name = name.removesuffix(".csv") + f"_{offset}.csv"
            path = args.out / "data" / segment_name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("\n".join([header, *rows[start:end]]) + "\n")
            labels[segment_name] = kept
    (args.out / "labels.json").write_text(json.dumps(labels, indent=1) + "\n")
    windows = sum(len(w) for w in labels.values())
    print(f"segments of {length} rows: {len(labels)} files, {windows} windows")


if __name__ == "__main__":
    main()
