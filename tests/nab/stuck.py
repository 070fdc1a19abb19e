#!/usr/bin/env python3
"""Seeded generator of stuck sensors and outages, for the detector's silence member.

NAB's shared split has hardly a stuck sensor in it, while an operator's metrics have many: a
sensor that repeats its last reading, an exporter that goes on serving a stale value, a count
that drops to zero during an outage. Twelve series of 4,000 rows, 5 minutes apart, of four kinds
(series k is kind k % 4):
  0. a daily sine (50 +- 10) with Gaussian noise (sd 1.5), read to 0.1, stuck at its last value;
  1. the same, dropping to 0;
  2. a random walk (steps sd 0.3, kept in 5..40), read to 0.1, stuck at its last value;
  3. daily counts (Binomial(50, rate/50), rate 0 for half of every day), an outage of zeros in
     the daytime.
Kinds 0-2 first get 6 ordinary stuck stretches of 4-13 samples (rows 400-2,400). The anomaly,
from a row in 2,600-3,600, lasts twice the longest earlier run of one repeated value (at least
12 samples). Each file `fNN_kK.csv` has a healthy twin `hNN_kK.csv` without the anomaly. NAB-style
windows: 10% of the length, centred on the anomaly's first row.

    stuck.py --seed 1 --out DIR
    # writes DIR/data/flat/{f,h}NN_kK.csv and DIR/labels.json
"""
import argparse
import datetime
import json
import math
import os
import random

ROWS = 4000
START = datetime.datetime(2020, 1, 1)


def write(out, labels, name, values, anomalies):
    path = f'{out}/data/flat/{name}.csv'
    os.makedirs(os.path.dirname(path), exist_ok=True)
    stamps = [START + datetime.timedelta(minutes=5 * i) for i in range(len(values))]
    with open(path, 'w') as f:
        f.write('timestamp,value\n')
        for t, v in zip(stamps, values):
            f.write(f'{t:%Y-%m-%d %H:%M:%S},{v:g}\n')
    windows = []
    for a in anomalies:
        half = int(0.1 * len(values) / len(anomalies) / 2)
        windows.append([f'{stamps[max(0, a - half)]:%Y-%m-%d %H:%M:%S}.000000',
                        f'{stamps[min(len(values) - 1, a + half)]:%Y-%m-%d %H:%M:%S}.000000'])
    labels[f'flat/{name}.csv'] = windows


def series(rng, kind):
    values, walk = [], 20.0
    for i in range(ROWS):
        phase = 2 * math.pi * (i % 288) / 288
        if kind < 2:
            v = round(50 + 10 * math.sin(phase) + rng.gauss(0, 1.5), 1)
        elif kind == 2:
            walk = min(max(walk + rng.gauss(0, 0.3), 5), 40)
            v = round(walk, 1)
        else:
            rate = max(0.0, 8 * math.sin(phase)) ** 1.5
            v = float(sum(1 for _ in range(50) if rng.random() < rate / 50))
        values.append(v)
    return values


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--seed', type=int, required=True)
    parser.add_argument('--out', required=True)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    labels = {}
    for k in range(12):
        kind = k % 4
        values = series(rng, kind)
        if kind < 3:
            for _ in range(6):
                a, length = rng.randrange(400, 2400), rng.randrange(4, 14)
                values[a:a + length] = [values[a - 1]] * length
        healthy = list(values)
        a = rng.randrange(2600, 3600)
        if kind == 3:
            a = a - a % 288 + rng.randrange(40, 100)
        longest = run = 0
        for i in range(1, a):
            run = run + 1 if values[i] == values[i - 1] else 0
            longest = max(longest, run)
        length = 2 * max(longest, 6)
        level = 0.0 if kind in (1, 3) else values[a - 1]
        values[a:a + length] = [level] * len(values[a:a + length])
        write(args.out, labels, f'f{k:02d}_k{kind}', values, [a])
        write(args.out, labels, f'h{k:02d}_k{kind}', healthy, [])
    with open(f'{args.out}/labels.json', 'w') as f:
        json.dump(labels, f, indent=1)


if __name__ == '__main__':
    main()
