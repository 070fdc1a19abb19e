#!/usr/bin/env python3
"""Copies of a NAB-style split that start a few rows later, to see how much of a score is luck.

The detector's windows are counted in samples, and ART reads its series in blocks of 7
samples (see `anomaly/art.rs`), so which samples share a block, and so whether ART calls a
window new, depends on where the series happens to start. A score tuned on one split at one
starting row can sit at the lucky end of that spread, and every stand-in that perturbs the
rows (gappy.py, segments.py) then pays for losing the luck as if for its own effect.

Measured with this script (shifts 1-13, the detector at commit a734060): NAB's shared split
scored 73.3 standard unshifted and 59.2-70.0 shifted (mean 65.9, s.d. 3.3); with ART off
61.7 against 58.6-61.6 (mean 59.8, s.d. 0.8). gappy.py's copies (seeds 1-5) scored 65.0, so
irregular sampling itself costs about a point; the rest is the unshifted split's luck. The
1,500- and 2,500-row segments (segments.py), tuned on as well, scored 51.9 and 65.1 unshifted
and 48.2 and 62.4 on average over shifts 1-7 (46.5-52.0 and 60.7-65.4).

For each SHIFT in 1..SHIFTS this writes OUT/shift-SHIFT/data (every file without its first
SHIFT rows) and OUT/shift-SHIFT/labels.json (the labels unchanged: a shift must not reach a
window, which the script checks). Score each copy and compare the mean, not the best.

    shifted.py --data DIR --labels FILE --out OUT [--shifts 7]
"""

import argparse
import json
from datetime import datetime
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--labels", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--shifts", type=int, default=7)
    args = parser.parse_args()
    if args.shifts < 1:
        raise SystemExit(f"--shifts: {args.shifts} is not a positive number of rows")

    windows_by_file = json.loads(args.labels.read_text())
    for name, windows in sorted(windows_by_file.items()):
        header, *rows = (args.data / name).read_text().splitlines()
        if args.shifts >= len(rows):
            raise SystemExit(
                f"{args.data / name}: {len(rows)} rows, too few to drop {args.shifts} of them"
            )
        first_window = min((datetime.fromisoformat(start) for start, _ in windows), default=None)
        if first_window is not None:
            dropped_last = datetime.fromisoformat(rows[args.shifts - 1].split(",", 1)[0])
            if dropped_last >= first_window:
                raise SystemExit(
                    f"{args.data / name}: line {args.shifts + 1}, field timestamp: "
                    f"a shift of {args.shifts} rows reaches the window starting {first_window}"
                )
        for shift in range(1, args.shifts + 1):
            out = args.out / f"shift-{shift}" / "data" / name
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text("\n".join([header, *rows[shift:]]) + "\n")
    for shift in range(1, args.shifts + 1):
        (args.out / f"shift-{shift}" / "labels.json").write_text(
            json.dumps(windows_by_file, indent=1) + "\n"
        )
    print(f"{args.out}: {len(windows_by_file)} files shifted by 1 to {args.shifts} rows")


if __name__ == "__main__":
    main()
