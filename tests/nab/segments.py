#!/usr/bin/env python3
"""Cuts NAB files into short segments, to score how a detector does on short series.

A live detector never knows how long a series will be, and NAB itself has series of
1,100 to 2,500 rows (hourly or sparse ones) where most of the file is over before a slow
warm-up ends. This builds a split of every LENGTH-row segment starting at multiples of
LENGTH / 2 of each file at least 1.2 x LENGTH long, each segment scored as its own file.
A segment keeps the windows that lie wholly inside it and start after NAB's probation for
its length (min(0.15 x LENGTH, 750) rows); segments with none are kept too, as places where
any alarm is a false positive.

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
    probation = min(int(0.15 * length), 750)
    windows_by_file = json.loads(args.labels.read_text())
    labels = {}
    for name, windows in sorted(windows_by_file.items()):
        header, *rows = (args.data / name).read_text().splitlines()
        if len(rows) < 1.2 * length:
            continue
        for offset in range(0, len(rows) - length + 1, length // 2):
            segment = rows[offset : offset + length]
            row_of = {}
            for row, line in enumerate(segment):
                row_of.setdefault(line.split(",", 1)[0], row)
            kept = [
                [start, end]
                for start, end in windows
                if row_of.get(start.split(".")[0], -1) >= probation
                and end.split(".")[0] in row_of
            ]
            segment_name = name.removesuffix(".csv") + f"_{offset}.csv"
            path = args.out / "data" / segment_name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("\n".join([header, *segment]) + "\n")
            labels[segment_name] = kept
    (args.out / "labels.json").write_text(json.dumps(labels, indent=1) + "\n")
    windows = sum(len(w) for w in labels.values())
    print(f"segments of {length} rows: {len(labels)} files, {windows} windows")


if __name__ == "__main__":
    main()
