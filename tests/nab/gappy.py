#!/usr/bin/env python3
"""Deterministic "gappy" variant of a NAB-style split, to see what irregular sampling does.

Half of NAB's held-out files (and any scrape that fails now and then) have irregular
timestamps: missing rows, holes of hours, jitter. Every window of the detector counts samples,
so this is where a detector tuned on regular 5-minute data can break.

For each file (seeded by SEED and the file's name, so reruns are identical):
* drops DROP (default 7 %) of the rows at random,
* cuts GAPS multi-hour holes (2-8 hours each; one per 2,000 rows, at least one),
  outside labelled windows,
* jitters every kept timestamp by a uniform +-20 % of the file's median step
  (whole seconds, NAB's `YYYY-MM-DD HH:MM:SS` format; neighbours cannot cross),
* keeps the first and last row of every labelled window, and rewrites the labels to
  those rows' jittered timestamps, so every window stays scorable.

    gappy.py --data DIR --labels FILE --out OUT [--seed N] [--drop 0.07] [--jitter 0.2] [--gaps 1]
"""
import argparse, json, random, zlib
from datetime import timedelta
from pathlib import Path

from nabcsv import parse, read

FMT = "%Y-%m-%d %H:%M:%S"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--labels", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--drop", type=float, default=0.07)
    ap.add_argument("--jitter", type=float, default=0.2, help="fraction of the step")
    ap.add_argument("--gaps", type=int, default=1, help="long gaps per 2,000 rows (at least one if > 0)")
    args = ap.parse_args()
    labels = json.loads(args.labels.read_text())
    out_labels = {}
    stats = {"rows": 0, "kept": 0, "gaps": 0}
    for name, windows in sorted(labels.items()):
        rng = random.Random(args.seed * 1_000_003 + zlib.crc32(name.encode()))
        header, rows, stamps, step = read(args.data / name)
        n = len(rows)
        index = {t: i for i, t in reversed(list(enumerate(stamps)))}
        spans = [(index[parse(a)], index[parse(b)]) for a, b in windows]
        protected = {0, n - 1}
        inside = set()
        for lo, hi in spans:
            protected |= {lo, hi}
            inside |= set(range(lo, hi + 1))
        keep = [True] * n
        for i in range(n):
            if i not in protected and rng.random() < args.drop:
                keep[i] = False
        n_gaps = max(1, args.gaps * n // 2000) if args.gaps else 0
        tries = 0
        made = 0
        while made < n_gaps and tries < 1000:
            tries += 1
            hours = rng.uniform(2, 8)
            length = max(2, int(hours * 3600 / step))
            if length > n // 10:
                length = max(2, n // 10)
            start = rng.randrange(1, max(2, n - length - 1))
            span = range(start, start + length)
            if any(i in inside or i in protected for i in range(start - 1, start + length + 1)):
                continue
            for i in span:
                keep[i] = False
            made += 1
        stats["gaps"] += made
        # +-20 % of the step, or of the distance to a neighbour where the file is
        # already denser than its step (so rows never swap).
        def room(i):
            near = [abs((stamps[j] - stamps[i]).total_seconds()) for j in (i - 1, i + 1) if 0 <= j < n]
            return min([step] + near)
        jit = [rng.uniform(-args.jitter, args.jitter) * room(i) for i in range(n)]
        new_stamp = [stamps[i] + timedelta(seconds=round(jit[i])) for i in range(n)]
        kept = [i for i in range(n) if keep[i]]
        # Whole-second jitter of at most 20 % of the neighbour distance cannot reorder rows at least one step apart.
        assert all(stamps[a] > stamps[b] or new_stamp[a] <= new_stamp[b] for a, b in zip(kept, kept[1:])), name
        out = args.out / "data" / name
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(header + "\n" + "".join(
            f"{new_stamp[i].strftime(FMT)},{rows[i][1]}\n" for i in kept))
        out_labels[name] = [[new_stamp[lo].strftime(FMT) + ".000000",
                             new_stamp[hi].strftime(FMT) + ".000000"] for lo, hi in spans]
        stats["rows"] += n
        stats["kept"] += len(kept)
    (args.out / "labels.json").write_text(json.dumps(out_labels, indent=1) + "\n")
    print(f"{args.out}: {len(out_labels)} files, kept {stats['kept']}/{stats['rows']} rows "
          f"({100 * (1 - stats['kept'] / stats['rows']):.1f} % dropped), {stats['gaps']} long gaps")


if __name__ == "__main__":
    main()
