"""train@<backbone> stage: data/arrays/{train,val}.npz → models/<backbone>/ (model.keras,
history.json, run.json), metrics/train/<backbone>.json, plots/train/<backbone>.{csv,png},
one MLflow run. An interrupted run resumes from .ferflow/resume/<backbone>/."""

from pathlib import Path

from ferflow.cli import backbone_stage_args, run_stage
from ferflow.tracking.mlflow_service import TrackingService
from ferflow.tracking.store import tracking_uri
from ferflow.training.loop import TrainPaths, data_sha256, describe_run, train_backbone


def main() -> None:
    backbone, params = backbone_stage_args(__doc__)
    tracker = TrackingService(tracking_uri(), params.mlflow.experiment)
    metrics = train_backbone(
        backbone,
        params,
        arrays_dir=Path("data/arrays"),
        paths=TrainPaths.for_backbone(backbone),
        tracker=tracker,
        data_sha=data_sha256(Path("data/raw/source.json")),
    )
    print(describe_run(metrics))


if __name__ == "__main__":
    run_stage(main)
