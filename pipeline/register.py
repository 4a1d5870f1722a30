"""register stage: metrics/eval/*.json + models/*/ → a new registry version with the champion /
challenger alias, reports/leaderboard.md and metrics/summary.json."""

import argparse
from pathlib import Path

from ferflow.cli import run_stage
from ferflow.config import load_params
from ferflow.evaluation.register import register_best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args()
    params = load_params(args.params)
    result = register_best(list(params.train.backbones), params.registry, root=Path("."),
                           batch_size=params.evaluate.batch_size)
    promotion = result["promotion"]
    print(f"selected {result['selected']} (val accuracy {result['val_accuracy']:.4f}, test "
          f"{result['test_accuracy']:.4f}) → {promotion['name']} version {promotion['version']} "
          f"as {promotion['alias']}: {promotion['reason']}")


if __name__ == "__main__":
    run_stage(main)
