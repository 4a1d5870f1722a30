"""external stage: the synthetic faces as a labelled image folder,
data/external/synthetic-faces/<emotion>/*.png|jpg, which params.yaml's evaluate.external
scores in every evaluate@<backbone> stage (the embedded default of an external data set)."""

from ferflow.data.synthetic_folder import write_synthetic_folder
from ferflow.stage import run_stage, stage_args


def main() -> None:
    stage = stage_args(__doc__)
    target = stage.layout.synthetic_external
    print(f"wrote {write_synthetic_folder(target)} images to {target}")


if __name__ == "__main__":
    run_stage(main)
