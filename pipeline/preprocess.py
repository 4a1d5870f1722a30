"""preprocess stage: data/raw/fer2013.csv → data/images/, data/manifest.csv, data/arrays/."""

from ferflow.data.preprocess import preprocess_csv
from ferflow.stage import run_stage, stage_args


def main() -> None:
    layout = stage_args(__doc__).layout
    counts = preprocess_csv(layout.raw_csv, layout.data_dir)
    for split, per_class in counts.items():
        shown = ", ".join(f"{name} {n}" for name, n in per_class.items())
        print(f"{split}: {sum(per_class.values())} images ({shown})")


if __name__ == "__main__":
    run_stage(main)
