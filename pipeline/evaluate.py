"""evaluate@<backbone> stage: models/<backbone>/ + data/arrays/{val,test}.npz →
metrics/eval/<backbone>.json, plots/confusion/<backbone>.csv, plots/eval/<backbone>/*.png,
all logged into the backbone's MLflow run; also scores the image folders of evaluate.external."""

from ferflow.evaluation.evaluate import describe_evaluation, evaluate_backbone
from ferflow.serving.folder_faces import load_face_sets
from ferflow.stage import run_stage, stage_args


def main() -> None:
    stage = stage_args(__doc__, matrix=True)
    params = stage.params.evaluate
    external = load_face_sets(params.external, stage.layout.root)
    result = evaluate_backbone(stage.backbone, params, stage.layout, external)
    print(describe_evaluation(result))


if __name__ == "__main__":
    run_stage(main)
