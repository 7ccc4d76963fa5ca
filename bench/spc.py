"""Benchmark of tracker.spc: many XmR series at once against a per-series loop.

    python bench/spc.py [--series 10000] [--points 100] [--loop-series 1000]

Prints seconds and points per second. The loop runs the same engine one series at a time (as a
page would without the batch function), in the same process, so the ratio is fair. For
reference, NHSRplotthedots (R) takes about 4.3 s for 1,000 series x 100 points on this kind of
machine (figure given in the issue; R is not installed here to re-measure it).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tracker import spc  # noqa: E402


def make(series: int, points: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    values = rng.normal(50, 5, (series, points))
    # every rule gets something to find: shifts, trends, outliers, and some gaps
    values[: series // 3, points // 2:] += 6
    values[series // 3: series // 2, -10:] += np.arange(10) * 1.5
    values[rng.random((series, points)) < 0.01] += 40
    values[rng.random((series, points)) < 0.01] = np.nan
    directions = np.array(["increase", "decrease", "neutral"])[np.arange(series) % 3]
    return pd.DataFrame({
        "series": np.repeat(np.arange(series), points),
        "t": np.tile(np.arange(points), series),
        "y": values.ravel(),
        "direction": np.repeat(directions, points),
        "rebase": np.tile(np.arange(points) == points * 3 // 4, series),
    })


def timed(fn, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--series", type=int, default=10_000)
    parser.add_argument("--points", type=int, default=100)
    parser.add_argument("--loop-series", type=int, default=1_000)
    args = parser.parse_args()

    big = make(args.series, args.points)
    small = make(args.loop_series, args.points, seed=2)

    def batch(frame):
        return spc.xmr_many(frame, "series", "y", improvement="direction",
                            phase_start="rebase", sort_by="t")

    def loop(frame):
        for (_, group) in frame.groupby("series", sort=False):
            phases = np.flatnonzero(group["rebase"].to_numpy()).tolist()
            spc.xmr(group["y"].to_numpy(), improvement=group["direction"].iloc[0],
                    phases=phases)

    t_small_batch = timed(lambda: batch(small))
    t_small_loop = timed(lambda: loop(small), repeat=1)
    t_big = timed(lambda: batch(big))
    n_small, n_big = len(small), len(big)
    print(f"machine: {sys.platform}, numpy {np.__version__}, pandas {pd.__version__}")
    print(f"{args.loop_series:,} series x {args.points} points ({n_small:,} points):")
    print(f"  xmr_many            {t_small_batch:8.3f} s  {n_small / t_small_batch:12,.0f} points/s")
    print(f"  loop of xmr         {t_small_loop:8.3f} s  {n_small / t_small_loop:12,.0f} points/s")
    print(f"  batch / loop speed-up: {t_small_loop / t_small_batch:.1f}x")
    print(f"  against NHSRplotthedots' 4.3 s: {4.3 / t_small_batch:.0f}x faster")
    print(f"{args.series:,} series x {args.points} points ({n_big:,} points):")
    print(f"  xmr_many            {t_big:8.3f} s  {n_big / t_big:12,.0f} points/s")
    flagged = batch(big)["rule"].value_counts()
    print("  rules found:", ", ".join(f"{k} {v:,}" for k, v in flagged.items()))


if __name__ == "__main__":
    main()
