"""train@<backbone> stage: data/arrays/{train,val}.npz → models/<backbone>/ (model.keras,
history.json, run.json), metrics/train/<backbone>.json, plots/train/<backbone>.{csv,png},
one MLflow run. An interrupted run resumes from .ferflow/resume/<backbone>/."""

from ferflow.stage import run_stage, stage_args
from ferflow.training.loop import train_stage
from ferflow.training.outputs import describe_run


def main() -> None:
    stage = stage_args(__doc__, matrix=True)
    print(describe_run(train_stage(stage.backbone, stage.params, layout=stage.layout)))


if __name__ == "__main__":
    run_stage(main)
