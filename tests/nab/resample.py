#!/usr/bin/env python3
"""Deterministic coarser-rate copy of a NAB-style split, to see what another sampling rate does.

Every window of the detector is counted in samples and was tuned on 5-minute data, while
part of NAB's held-out files are hourly (realAdExchange: ~1,600 rows over 66 days). This
rolls each file up to a target STEP, as a coarser scrape or a monitoring rollup would:

* a file's factor is K = round(STEP / its median step), at least 1; each K consecutive rows
  become one row with the first row's timestamp and the mean of their values (--agg max keeps
  the largest instead; a trailing partial group is rolled up too). The mean is the default
  because it is what a rollup of a gauge (CloudWatch's Average statistic, an hourly CPC) gives;
  it dilutes a one-row spike K times, which is part of what a coarser rate does. Groups are
  counted in rows, not on the clock: in a file with holes a group can span one (the split's
  `rogue_agent` files have a few dozen such groups; the effect on the score is small);
* --offset N starts the first group at row N mod K (the rows before it are left out), a different
  phase of the same roll-up, so a change can be measured on several copies rather than one;
* a file already at or above STEP (K = 1) is copied unchanged;
* a label window keeps its time range: it runs from the row whose group holds the window's
  first row to the row whose group holds its last, so it covers the same span of time;
* a file left with fewer than MIN_ROWS rows (default 600) is dropped, and so is a file where
  two of its windows fall into one row (they would no longer be separate anomalies).

    resample.py --data DIR --labels FILE --step 900 --out OUT [--agg mean|max] [--offset 0]
                [--min-rows 600]
"""
import argparse
import json
import statistics
from pathlib import Path

from nabcsv import parse, read


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--labels", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--step", type=float, required=True, help="target step in seconds")
    ap.add_argument("--agg", choices=("mean", "max"), default="mean")
    ap.add_argument("--min-rows", type=int, default=600)
    ap.add_argument("--offset", type=int, default=0, help="rows left out before the first group")
    args = ap.parse_args()
    roll = {"mean": statistics.fmean, "max": max}[args.agg]
    labels = json.loads(args.labels.read_text())
    out_labels = {}
    dropped = []
    rows_in = rows_out = 0
    for name, windows in sorted(labels.items()):
        header, rows, stamps, step = read(args.data / name)
        k = max(1, round(args.step / step))
        skip = args.offset % k
        groups = [rows[i:i + k] for i in range(skip, len(rows), k)]
        # A window's ends are timestamps in the file; the first row with that stamp starts it,
        # the last row with that stamp ends it (some files repeat timestamps).
        first = {}
        last = {}
        for i, t in enumerate(stamps):
            first.setdefault(t, i)
            last[t] = i
        spans = [(max(0, first[parse(a)] - skip) // k, (last[parse(b)] - skip) // k)
                 for a, b in windows]
        overlapping = any(b[0] <= a[1] for a, b in zip(spans, spans[1:]))
        if len(groups) < args.min_rows or overlapping:
            dropped.append(Path(name).stem + (" (windows merge)" if overlapping else ""))
            continue
        out = args.out / "data" / name
        out.parent.mkdir(parents=True, exist_ok=True)
        if k == 1:
            out.write_text((args.data / name).read_text())
            new_stamps = [t for t, _ in rows]
        else:
            new_stamps = [g[0][0] for g in groups]
            values = [roll(float(v) for _, v in g) for g in groups]
            out.write_text(header + "\n" + "".join(
                f"{t},{v!r}\n" for t, v in zip(new_stamps, values)))
        out_labels[name] = [[new_stamps[lo].strip() + ".000000", new_stamps[hi].strip() + ".000000"]
                            for lo, hi in spans]
        rows_in += len(rows)
        rows_out += len(groups)
    (args.out / "labels.json").write_text(json.dumps(out_labels, indent=1) + "\n")
    windows = sum(len(w) for w in out_labels.values())
    print(f"{args.out}: {args.step:g} s rows ({args.agg}): {len(out_labels)} files, {windows} windows, "
          f"{rows_out} rows from {rows_in}; dropped {len(dropped)}"
          + (f" ({', '.join(dropped)})" if len(dropped) <= 5 else ""))


if __name__ == "__main__":
    main()
