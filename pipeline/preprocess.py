"""preprocess stage: data/raw/fer2013.csv → data/images/, data/manifest.csv, data/arrays/,
data/labels.json (data.labels: fer2013, or FER+'s majority labels from data.ferplus_path)."""

from ferflow.data.label_record import read_label_record
from ferflow.data.preprocess import preprocess_csv
from ferflow.stage import run_stage, stage_args


def main() -> None:
    stage = stage_args(__doc__.splitlines()[0])
    layout = stage.layout
    counts = preprocess_csv(layout.raw_csv, layout.data_dir,
                            ferplus_path=stage.params.data.ferplus_file)
    for split, per_class in counts.items():
        shown = ", ".join(f"{name} {n}" for name, n in per_class.items())
        print(f"{split}: {sum(per_class.values())} images ({shown})")
    record = read_label_record(layout.labels_record)
    if record.get("labels") == "ferplus":
        dropped = ", ".join(f"{why} {n}" for why, n in record["rows_dropped"].items())
        print(f"FER+ labels: {record['labels_changed']} changed; dropped {dropped}")


if __name__ == "__main__":
    run_stage(main)
