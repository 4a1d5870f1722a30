"""evaluate@<backbone> stage: models/<backbone>/ + data/arrays/{val,test}.npz →
metrics/eval/<backbone>.json, plots/confusion/<backbone>.csv, plots/eval/<backbone>/*.png,
all logged into the backbone's MLflow run."""

from ferflow.evaluation.evaluate import describe_evaluation, evaluate_backbone
from ferflow.stage import run_stage, stage_args


def main() -> None:
    stage = stage_args(__doc__, matrix=True)
    result = evaluate_backbone(stage.backbone, stage.params.evaluate, stage.layout)
    print(describe_evaluation(result))


if __name__ == "__main__":
    run_stage(main)
