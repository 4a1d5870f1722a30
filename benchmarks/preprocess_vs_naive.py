"""Benchmark: ferflow's preprocess vs the naive script, side by side on the same CSV.

The naive baseline is the usual FER2013 tutorial loop: pandas `iterrows`, `str.split` per row,
one PIL `save` per image. Both write a PNG tree from the same uncompressed CSV on the same disk;
runs alternate so machine noise hits both alike. Prints each time and the ratio.

    .venv/bin/python benchmarks/preprocess_vs_naive.py [--csv ../shared/data/fer2013-dev.csv.gz]
"""

from __future__ import annotations

import argparse
import gzip
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from ferflow import USAGE_TO_SPLIT
from ferflow.data.preprocess import preprocess_csv

DEV_CSV = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "fer2013-dev.csv.gz"


def naive_preprocess(csv_path: Path, out_dir: Path) -> None:
    frame = pd.read_csv(csv_path)
    for index, row in frame.iterrows():
        pixels = np.array([int(p) for p in row["pixels"].split()], dtype=np.uint8)
        folder = out_dir / USAGE_TO_SPLIT[row["Usage"]] / str(row["emotion"])
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels.reshape(48, 48)).save(folder / f"{index}.png")


def timed(func, *args) -> float:
    start = time.perf_counter()
    func(*args)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", type=Path, default=DEV_CSV, help="FER2013 CSV (.csv or .csv.gz)")
    parser.add_argument("--repeats", type=int, default=1, help="alternating runs of each")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ferflow-bench-") as tmp:
        work = Path(tmp)
        csv_path = work / "fer2013.csv"
        opener = gzip.open if args.csv.suffix == ".gz" else open
        with opener(args.csv, "rb") as src, csv_path.open("wb") as dst:
            shutil.copyfileobj(src, dst)
        rows = sum(1 for _ in csv_path.open("rb")) - 1
        naive, ours = [], []
        for i in range(args.repeats):
            naive.append(timed(naive_preprocess, csv_path, work / f"naive{i}"))
            ours.append(timed(preprocess_csv, csv_path, work / f"ours{i}"))
            shutil.rmtree(work / f"naive{i}")
            shutil.rmtree(work / f"ours{i}")
    n, o = statistics.median(naive), statistics.median(ours)
    print(f"rows: {rows}")
    print(f"naive (iterrows + str.split + PIL save): {n:.2f} s  runs "
          f"{[round(t, 2) for t in naive]}")
    print(f"ferflow preprocess (PNGs + manifest + arrays): {o:.2f} s  runs "
          f"{[round(t, 2) for t in ours]}")
    print(f"speed-up: {n / o:.1f}x")


if __name__ == "__main__":
    main()
