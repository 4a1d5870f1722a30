"""evaluate@<backbone> stage: models/<backbone>/ + data/arrays/{val,test}.npz →
metrics/eval/<backbone>.json, plots/confusion/<backbone>.csv, plots/eval/<backbone>/*.png,
all logged into the backbone's MLflow run."""

import argparse
from pathlib import Path

from ferflow.cli import run_stage
from ferflow.config import load_params
from ferflow.evaluation.evaluate import EvaluationPaths, evaluate_backbone


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("backbone")
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args()
    params = load_params(args.params)
    result = evaluate_backbone(
        args.backbone,
        model_dir=Path("models") / args.backbone,
        arrays_dir=Path("data/arrays"),
        params=params.evaluate,
        paths=EvaluationPaths.for_backbone(args.backbone),
    )
    for split in ("val", "test"):
        scores = result[split]
        extra = "".join(f", {mode} {scores[f'accuracy_{mode}']:.4f}"
                        for mode in result["tta"] if mode != "none")
        print(f"{args.backbone} {split}: accuracy {scores['accuracy']:.4f}{extra}, "
              f"macro-F1 {scores['macro_f1']:.4f} ({scores['n']} images)")


if __name__ == "__main__":
    run_stage(main)
