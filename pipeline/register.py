"""register stage: metrics/eval/*.json + models/*/ → a new registry version with the champion /
challenger alias, reports/leaderboard.md and metrics/summary.json."""

from ferflow.release.register import describe_release, register_best
from ferflow.stage import run_stage, stage_args


def main() -> None:
    stage = stage_args(__doc__)
    params = stage.params
    result = register_best(list(params.train.backbones), params.registry, stage.layout,
                           bootstrap=params.evaluate.bootstrap,
                           batch_size=params.evaluate.batch_size)
    print(describe_release(result))


if __name__ == "__main__":
    run_stage(main)
