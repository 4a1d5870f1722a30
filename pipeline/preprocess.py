"""preprocess stage: data/raw/fer2013.csv → data/images/, data/manifest.csv, data/arrays/."""

from pathlib import Path

from ferflow.cli import run_stage
from ferflow.data.preprocess import preprocess_csv


def main() -> None:
    counts = preprocess_csv(Path("data/raw/fer2013.csv"), Path("data"))
    for split, per_class in counts.items():
        shown = ", ".join(f"{name} {n}" for name, n in per_class.items())
        print(f"{split}: {sum(per_class.values())} images ({shown})")


if __name__ == "__main__":
    run_stage(main)
