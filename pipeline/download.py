"""download stage: params data.* → data/raw/fer2013.csv and data/raw/source.json."""

from ferflow.data.sources import fetch_raw_csv
from ferflow.stage import run_stage, stage_args


def main() -> None:
    stage = stage_args(__doc__)
    info = fetch_raw_csv(stage.params.data, stage.layout.raw_dir)
    print(f"{stage.layout.raw_csv}: {info['rows']} rows from {info['source']} "
          f"({info['origin']}), sha256 {info['sha256'][:12]}")


if __name__ == "__main__":
    run_stage(main)
