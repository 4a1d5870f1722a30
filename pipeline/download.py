"""download stage: params data.* → data/raw/fer2013.csv and data/raw/source.json."""

from pathlib import Path

from ferflow.cli import run_stage
from ferflow.config import load_params
from ferflow.data.sources import fetch_raw_csv


def main() -> None:
    info = fetch_raw_csv(load_params().data, Path("data/raw"))
    print(f"data/raw/fer2013.csv: {info['rows']} rows from {info['source']} "
          f"({info['origin']}), sha256 {info['sha256'][:12]}")


if __name__ == "__main__":
    run_stage(main)
