"""The tracking store a URI names: MLflow's (SQLite, a server, ...), or a plain folder
(`folder:<path>`) on a host without MLflow. Stages open theirs here, so that the folder store
needs no MLflow installed."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from ferflow.tracking.folder import SCHEME, FolderTracker, log_into_folder_run
from ferflow.tracking.run_ref import RunRef

if TYPE_CHECKING:
    from ferflow.data.lineage import DataLineage
    from ferflow.tracking.mlflow_service import TrackingService


def open_tracker(uri: str, experiment: str) -> TrackingService | FolderTracker:
    """The tracker of one experiment in the store `uri` names."""
    if uri.startswith(SCHEME):
        return FolderTracker(uri, experiment)
    from ferflow.tracking.mlflow_service import TrackingService

    return TrackingService(uri, experiment)


def log_into_run(run: RunRef, metrics: Mapping[str, float], files: list[Path],
                 artifact_path: str, lineage: DataLineage | None = None) -> None:
    """Add metrics, artifact files and the data's datasets (`lineage`) to the existing run
    `run` in its own store."""
    if run.tracking_uri.startswith(SCHEME):
        log_into_folder_run(run, metrics, files, artifact_path, lineage)
        return
    from ferflow.tracking.mlflow_service import log_into_run as log_into_mlflow_run

    log_into_mlflow_run(run, metrics, files, artifact_path, lineage)
