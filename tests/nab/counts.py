#!/usr/bin/env python3
"""Seeded generator of realTweets-like count series (5-minute tweet counts).

NAB's held-out part has ten files of tweets about a company every 5 minutes, and its shared
split nothing like them: counts with a daily rhythm, overdispersed, with routine bursts, where
a healthy series must stay quiet for 15,000 rows and a real surge must outrank the bursts.
The parameters below were fixed before the detector was tuned on this data, and are not
tuning knobs:
  * 10 series x 15,000 rows, 5 min apart, NAB CSV (timestamp,value), start 2015-02-26 00:00:00.
  * base rate (median per step) per series: 2, 3, 6, 10, 20, 35, 60, 100, 150, 200.
  * daily cycle: rate *= exp(a*cos(2*pi*(t/day - phase))), a ~ U(0.3, 0.9), phase ~ U(0,1).
  * weekly cycle on odd-numbered series: weekend (Sat/Sun) factor w ~ U(0.5, 0.85), smoothed
    over 3 hours at the edges.
  * slow day-to-day wander: AR(1) on log rate, phi = 1 - 1/288, stationary sd ~ U(0.1, 0.25).
  * natural bursts: each step starts one with p = 1/300 (~1/day), lasting 1..6 steps at 2..3x.
  * negative-binomial overdispersion: count ~ Poisson(Gamma(k, mu/k)), size k ~ U(1.5, 8)
    (var = mu + mu^2/k). Small series (base 2-3) have many zeros.
Labelled variant (--surges): identical rows except 2-3 injected surges per series:
  multiplier 5..20 for 10..60 steps (full for the first half, decaying linearly to 1 over the
  second), placed after NAB's probation (750 rows) + half a window, windows not overlapping.
  Surge rows are redrawn from NB(k) with the raised mean (separate RNG, so all other rows match
  the healthy file). NAB-style windows: 10% of the length split evenly among the surges,
  centred on each surge's first row.

    counts.py --seed 1 --out DIR [--surges]
    # writes DIR/data/synthTweets/tw_NN_bLEVEL.csv, DIR/labels.json (NAB windows) and
    # DIR/meta.json (each series' size k, mean, share of zeros and surges)
"""
import argparse
import json
import math
import os
import random
from datetime import datetime, timedelta

N = 15000
STEP = 300
DAY = 288
LEVELS = [2, 3, 6, 10, 20, 35, 60, 100, 150, 200]
START = datetime(2015, 2, 26)


def poisson(rng, lam):
    """Knuth for small means, Hormann's PTRS transformed rejection for large."""
    if lam <= 0:
        return 0
    if lam < 10:
        L, k, p = math.exp(-lam), 0, 1.0
        while True:
            p *= rng.random()
            if p <= L:
                return k
            k += 1
    slam, loglam = math.sqrt(lam), math.log(lam)
    b = 0.931 + 2.53 * slam
    a = -0.059 + 0.02483 * b
    invalpha = 1.1239 + 1.1328 / (b - 3.4)
    vr = 0.9277 - 3.6224 / (b - 2)
    while True:
        u = rng.random() - 0.5
        v = rng.random()
        us = 0.5 - abs(u)
        k = math.floor((2 * a / us + b) * u + lam + 0.43)
        if us >= 0.07 and v <= vr:
            return k
        if k < 0 or (us < 0.013 and v > us):
            continue
        if (math.log(v) + math.log(invalpha) - math.log(a / (us * us) + b)
                <= -lam + k * loglam - math.lgamma(k + 1)):
            return k


def negbin(rng, mu, k):
    return poisson(rng, rng.gammavariate(k, mu / k))


def series(idx, seed):
    rng = random.Random(seed * 1000 + idx)
    base = LEVELS[idx]
    a = rng.uniform(0.3, 0.9)
    phase = rng.random()
    weekly = idx % 2 == 1
    w = rng.uniform(0.5, 0.85)
    sd = rng.uniform(0.1, 0.25)
    k = rng.uniform(1.5, 8.0)
    phi = 1 - 1 / DAY
    innov = sd * math.sqrt(1 - phi * phi)
    x = rng.gauss(0, sd)
    burst_left, burst_mult = 0, 1.0
    mus, counts = [], []
    for t in range(N):
        ts = START + timedelta(seconds=STEP * t)
        rate = base * math.exp(a * math.cos(2 * math.pi * (t / DAY - phase)))
        if weekly:
            # weekend weight: 1 on Sat/Sun, ramped over 3 hours (36 steps) at each edge
            hours = ts.weekday() * 24 + ts.hour + ts.minute / 60  # Mon 0 .. Sun 167.9
            into = hours - 120.0  # Saturday 00:00
            edge = min(max((into + 1.5) / 3.0, 0.0), 1.0) * min(max((48.0 - into + 1.5) / 3.0, 0.0), 1.0)
            rate *= 1 - (1 - w) * edge
        x = phi * x + rng.gauss(0, innov)
        rate *= math.exp(x)
        if burst_left == 0 and rng.random() < 1 / 300:
            burst_left, burst_mult = rng.randint(1, 6), rng.uniform(2.0, 3.0)
        if burst_left > 0:
            rate *= burst_mult
            burst_left -= 1
        mus.append(rate)
        counts.append(negbin(rng, rate, k))
    return mus, counts, k


def surges(idx, seed, mus, counts, k):
    rng = random.Random(seed * 1000 + 500 + idx)
    n_s = rng.choice([2, 3])
    width = int(0.10 * N / n_s)
    half = width // 2
    lo, hi = 750 + half, N - half - 60
    while True:
        starts = sorted(rng.randint(lo, hi) for _ in range(n_s))
        if all(b - a > width + 60 for a, b in zip(starts, starts[1:])):
            break
    counts = list(counts)
    windows = []
    for s in starts:
        m, d = rng.uniform(5, 20), rng.randint(10, 60)
        for j in range(d):
            f = m if j < d / 2 else 1 + (m - 1) * (d - j) / (d - d / 2)
            counts[s + j] = negbin(rng, mus[s + j] * f, k)
        windows.append((s - half, s + half, s, m, d))
    return counts, windows


def fmt(t):
    return (START + timedelta(seconds=STEP * t)).strftime("%Y-%m-%d %H:%M:%S")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", required=True)
    p.add_argument("--surges", action="store_true")
    args = p.parse_args()
    cat = "synthTweets"
    os.makedirs(os.path.join(args.out, "data", cat), exist_ok=True)
    labels, meta = {}, {}
    for idx in range(len(LEVELS)):
        mus, counts, k = series(idx, args.seed)
        name = f"tw_{idx:02d}_b{LEVELS[idx]}.csv"
        wins = []
        if args.surges:
            counts, wins = surges(idx, args.seed, mus, counts, k)
        with open(os.path.join(args.out, "data", cat, name), "w") as f:
            f.write("timestamp,value\n")
            for t, c in enumerate(counts):
                f.write(f"{fmt(t)},{c}\n")
        labels[f"{cat}/{name}"] = [[fmt(a) + ".000000", fmt(b) + ".000000"] for a, b, *_ in wins]
        zeros = sum(1 for c in counts if c == 0) / N
        meta[name] = {"k": round(k, 2), "mean": round(sum(counts) / N, 1), "zeros": round(zeros, 3),
                      "surges": [{"row": s, "mult": round(m, 1), "steps": d} for _, _, s, m, d in wins]}
    with open(os.path.join(args.out, "labels.json"), "w") as f:
        json.dump(labels, f, indent=1)
    with open(os.path.join(args.out, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)


if __name__ == "__main__":
    main()
