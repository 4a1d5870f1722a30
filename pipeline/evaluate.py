"""evaluate@<backbone> stage: models/<backbone>/ + data/arrays/{val,test}.npz →
metrics/eval/<backbone>.json, plots/confusion/<backbone>.csv, plots/eval/<backbone>/*.png,
all logged into the backbone's MLflow run."""

from pathlib import Path

from ferflow.cli import backbone_stage_args, run_stage
from ferflow.evaluation.evaluate import EvaluationPaths, evaluate_backbone


def main() -> None:
    backbone, params = backbone_stage_args(__doc__)
    result = evaluate_backbone(
        backbone,
        model_dir=Path("models") / backbone,
        arrays_dir=Path("data/arrays"),
        params=params.evaluate,
        paths=EvaluationPaths.for_backbone(backbone),
    )
    for split in ("val", "test"):
        scores = result[split]
        extra = "".join(f", {mode} {scores[f'accuracy_{mode}']:.4f}"
                        for mode in result["tta"] if mode != "none")
        print(f"{backbone} {split}: accuracy {scores['accuracy']:.4f}{extra}, "
              f"macro-F1 {scores['macro_f1']:.4f} ({scores['n']} images)")


if __name__ == "__main__":
    run_stage(main)
