"""Runs tracked into a plain folder, for hosts without MLflow (a GPU window carries no MLflow):
the same calls as `TrackingService`, written as JSON files that `mlflow` never needs to read.

`folder:<path>` as MLFLOW_TRACKING_URI selects it. Layout: `<path>/<experiment>/<run id>/`
with `run.json` (name, status, tags, params), `metrics.jsonl` (one line per logged value, with
its step) and `artifacts/`. The datasets a run saw are in its `run.json` too; system metrics
are not recorded (a host without MLflow may lack psutil, which samples them).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ferflow.atomic import write_json
from ferflow.errors import FerflowError
from ferflow.tracking.run_ref import RunRef, failed_on_error

if TYPE_CHECKING:
    from ferflow.data.lineage import DataLineage

SCHEME = "folder:"


def folder_of(uri: str) -> Path:
    return Path(uri[len(SCHEME):]).expanduser()


class FolderTracker:
    """Create or resume runs of one experiment in a folder and log into them."""

    def __init__(self, tracking_uri: str, experiment: str) -> None:
        self.tracking_uri = tracking_uri
        self.experiment_id = experiment
        self.folder = folder_of(tracking_uri) / experiment
        self.folder.mkdir(parents=True, exist_ok=True)

    def _run(self, run_id: str) -> Path:
        return self.folder / run_id

    def _meta(self, run_id: str) -> dict[str, Any]:
        return json.loads((self._run(run_id) / "run.json").read_text(encoding="utf-8"))

    def _update(self, run_id: str, **changes: Any) -> None:
        meta = self._meta(run_id)
        for key, value in changes.items():
            meta[key] = {**meta.get(key, {}), **value} if isinstance(value, dict) else value
        write_json(self._run(run_id) / "run.json", meta)

    def ref(self, run_id: str) -> RunRef:
        return RunRef(run_id, self.experiment_id, self.tracking_uri)

    def start_run(self, run_name: str, tags: Mapping[str, Any]) -> str:
        run_id = uuid.uuid4().hex
        self._run(run_id).mkdir()
        write_json(self._run(run_id) / "run.json", {
            "run_name": run_name, "status": "RUNNING",
            "tags": {k: str(v) for k, v in tags.items()}, "params": {}})
        return run_id

    def resume_run(self, run_id: str) -> bool:
        if not (self._run(run_id) / "run.json").is_file():
            return False
        self._update(run_id, status="RUNNING")
        return True

    def log_params(self, run_id: str, params: Mapping[str, Any]) -> None:
        self._update(run_id, params={k: str(v) for k, v in params.items()})

    def set_tags(self, run_id: str, tags: Mapping[str, Any]) -> None:
        self._update(run_id, tags={k: str(v) for k, v in tags.items()})

    def _append(self, run_id: str, metrics: Mapping[str, float], step: int) -> None:
        with open(self._run(run_id) / "metrics.jsonl", "a", encoding="utf-8") as out:
            for key, value in sorted(metrics.items()):
                out.write(json.dumps({"key": key, "value": float(value), "step": step}) + "\n")

    def log_epoch(self, run_id: str, epoch: int, metrics: Mapping[str, float]) -> None:
        self._append(run_id, metrics, epoch)

    def log_metrics(self, run_id: str, metrics: Mapping[str, float]) -> None:
        self._append(run_id, metrics, 0)

    def metrics(self, run_id: str) -> list[dict[str, Any]]:
        """Every logged value, in logging order."""
        path = self._run(run_id) / "metrics.jsonl"
        if not path.is_file():
            return []
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]

    def logged_epochs(self, run_id: str, key: str) -> int:
        return max((m["step"] for m in self.metrics(run_id) if m["key"] == key), default=0)

    def log_datasets(self, run_id: str, lineage: DataLineage) -> None:
        """The splits the run saw, under `datasets` in its run.json."""
        self._update(run_id, datasets={
            split: {"source": lineage.source, "origin": lineage.origin,
                    "sha256": lineage.sha256, "rows": rows}
            for split, rows in lineage.rows.items()})

    def system_metrics(self, run_id: str) -> contextlib.AbstractContextManager[None]:
        """Nothing: a folder store records no system metrics (see the module docstring)."""
        return contextlib.nullcontext()

    def log_artifact(self, run_id: str, path: Path, artifact_path: str | None = None) -> None:
        target = self._run(run_id) / "artifacts" / (artifact_path or "")
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target / Path(path).name)

    def log_keras_model(self, run_id: str, model: Any, name: str = "model") -> str:
        target = self._run(run_id) / "artifacts" / name
        target.mkdir(parents=True, exist_ok=True)
        model.save(target / "model.keras")
        return str(target / "model.keras")

    def finish(self, run_id: str, status: str = "FINISHED") -> None:
        self._update(run_id, status=status)

    def failed_on_error(self, run_id: str) -> contextlib.AbstractContextManager[None]:
        """End run `run_id` FAILED if the block raises anything, then re-raise."""
        return failed_on_error(self.finish, run_id)


def log_into_folder_run(run: RunRef, metrics: Mapping[str, float], files: list[Path],
                        artifact_path: str, lineage: DataLineage | None = None) -> None:
    """`log_into_run` for a folder store; FerflowError when the run is not there."""
    tracker = FolderTracker(run.tracking_uri, run.experiment_id)
    if not (tracker._run(run.run_id) / "run.json").is_file():
        raise FerflowError(f"run {run.run_id} not found in {tracker.folder}; rerun the train "
                           "stage so that run.json points to an existing run")
    tracker.log_metrics(run.run_id, metrics)
    for path in files:
        tracker.log_artifact(run.run_id, path, artifact_path)
    if lineage is not None:
        tracker.log_datasets(run.run_id, lineage)
