"""MLflow behind one small service: one run per backbone per training, resumable, with every
call that writes to the store retried while a shared SQLite database is locked. Each run
records the data it saw as MLflow dataset inputs and, while it trains, the machine's load as
system metrics."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from mlflow import MlflowClient
from mlflow.entities import Dataset, DatasetInput, InputTag, Metric, Param, RunTag
from mlflow.exceptions import MlflowException
from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT
from mlflow.utils.time import get_current_time_millis

from ferflow.errors import FerflowError
from ferflow.tracking.run_ref import RunRef, failed_on_error
from ferflow.tracking.server import check_server, server_errors
from ferflow.tracking.store import artifact_location, retry_locked, store_lock

if TYPE_CHECKING:
    from ferflow.data.lineage import DataLineage

T = TypeVar("T")

MAX_BATCH = 100
"""MLflow's limit on params (and a safe size for metrics) per log_batch call."""
MAX_PARAM_LENGTH = 6000

EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
MODEL_DEVELOPMENT = "custom_model_development"
"""MLflow's experiment kind for model training (not GenAI apps). A UI that picks an
experiment's first page by its kind opens it on its runs; MLflow 3.17's UI picks it by its own
GenAI / Model training switch instead (README "Compare runs in the MLflow UI")."""

DIGEST_LENGTH = 12
"""Hex digits of the data's sha256 that name a dataset's version in MLflow (its store keeps
at most 36); the dataset's profile keeps the whole sha256."""

SYSTEM_METRICS_INTERVAL_S = 10.0
"""Seconds between system-metrics samples (MLflow's default);
MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL overrides it."""


def dataset_source(source: str, origin: str) -> tuple[str, dict[str, Any]]:
    """MLflow's source type and source for ferflow's `data.source` and where it read the data:
    what the UI shows, and links to, as the dataset's source."""
    if source == "url":
        return "http", {"url": origin}
    if source == "kaggle":
        return "http", {"url": f"https://www.kaggle.com/competitions/{origin}"}
    if source == "file":
        return "local", {"uri": origin}
    return "code", {"tags": {"data.source": source}}


def dataset_inputs(lineage: DataLineage) -> list[DatasetInput]:
    """One MLflow dataset input per split: named `<fer2013|synthetic>-<split>`, the start of
    the data's sha256 as digest, the split as context, the rows and the source in its profile."""
    source_type, source = dataset_source(lineage.source, lineage.origin)
    family = "synthetic" if lineage.source == "synthetic" else "fer2013"
    return [
        DatasetInput(
            Dataset(name=f"{family}-{split}", digest=lineage.sha256[:DIGEST_LENGTH],
                    source_type=source_type, source=json.dumps(source),
                    profile=json.dumps({"num_rows": rows, "sha256": lineage.sha256,
                                        "data.source": lineage.source,
                                        "origin": lineage.origin})),
            tags=[InputTag(MLFLOW_DATASET_CONTEXT, split)])
        for split, rows in lineage.rows.items()
    ]


def log_into_run(run: RunRef, metrics: Mapping[str, float], files: list[Path],
                 artifact_path: str, lineage: DataLineage | None = None) -> None:
    """Add metrics, artifact files and the data's datasets to an existing (usually finished)
    run, such as the evaluation of a trained backbone; FerflowError when the run is gone."""
    check_server(run.tracking_uri)
    client = MlflowClient(tracking_uri=run.tracking_uri)
    try:
        with server_errors(run.tracking_uri):
            retry_locked(lambda: client.get_run(run.run_id))
    except MlflowException as exc:
        raise FerflowError(f"MLflow run {run.run_id} not found at {run.tracking_uri} "
                           f"({exc.message}); rerun the train stage so that run.json points "
                           "to an existing run") from None
    now = get_current_time_millis()
    items = [Metric(k, float(v), now, 0) for k, v in sorted(metrics.items())]
    with server_errors(run.tracking_uri):
        for i in range(0, len(items), MAX_BATCH):
            chunk = items[i:i + MAX_BATCH]
            retry_locked(lambda chunk=chunk: client.log_batch(run.run_id, metrics=chunk))
        for path in files:
            retry_locked(lambda path=path: client.log_artifact(run.run_id, str(path),
                                                               artifact_path))
        if lineage is not None:
            retry_locked(lambda: client.log_inputs(run.run_id, dataset_inputs(lineage)))


class TrackingService:
    """Create or resume runs in one experiment of one tracking store and log into them."""

    def __init__(self, tracking_uri: str, experiment: str) -> None:
        self.tracking_uri = tracking_uri
        check_server(tracking_uri)
        try:
            # Creating the client opens the store, and a new SQLite store migrates its schema:
            # one process at a time, or two parallel first runs break each other's migration.
            with store_lock(tracking_uri):
                self.client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
                self.experiment_id = self._call(lambda: self._ensure_experiment(experiment))
        except MlflowException as exc:
            raise FerflowError(f"MLflow store {tracking_uri} cannot be used ({exc.message}); "
                               "check MLFLOW_TRACKING_URI or that the server is up") from None

    def _call(self, call: Callable[[], T]) -> T:
        """`call` retried while SQLite is locked; a refused or lost server is a FerflowError."""
        with server_errors(self.tracking_uri):
            return retry_locked(call)

    def _ensure_experiment(self, name: str) -> str:
        """The id of experiment `name`, created if needed, tagged as model development."""
        found = self.client.get_experiment_by_name(name)
        if found is None:
            try:
                return self.client.create_experiment(
                    name, artifact_location=artifact_location(self.tracking_uri),
                    tags={EXPERIMENT_KIND_TAG: MODEL_DEVELOPMENT})
            except MlflowException:
                # Another process created it between our look-up and create.
                found = self.client.get_experiment_by_name(name)
                if found is None:
                    raise
        if found.lifecycle_stage == "deleted":
            raise FerflowError(
                f"MLflow experiment {name!r} is deleted in {self.tracking_uri}: restore it "
                "(mlflow experiments restore) or set mlflow.experiment to another name")
        if found.tags.get(EXPERIMENT_KIND_TAG) != MODEL_DEVELOPMENT:
            # Made by an older ferflow, by hand, or guessed by the UI.
            self.client.set_experiment_tag(found.experiment_id, EXPERIMENT_KIND_TAG,
                                           MODEL_DEVELOPMENT)
        return found.experiment_id

    def ref(self, run_id: str) -> RunRef:
        return RunRef(run_id, self.experiment_id, self.tracking_uri)

    def start_run(self, run_name: str, tags: Mapping[str, Any]) -> str:
        """A new run in the experiment; returns its id."""
        run = self._call(lambda: self.client.create_run(
            self.experiment_id, run_name=run_name, tags={k: str(v) for k, v in tags.items()}))
        return run.info.run_id

    def resume_run(self, run_id: str) -> bool:
        """Mark an unfinished run of this experiment as running again; False if it is gone."""
        try:
            run = self._call(lambda: self.client.get_run(run_id))
        except MlflowException:
            return False
        if run.info.experiment_id != self.experiment_id or run.info.lifecycle_stage != "active":
            return False
        self._call(lambda: self.client.update_run(run_id, status="RUNNING"))
        return True

    def log_params(self, run_id: str, params: Mapping[str, Any]) -> None:
        items = [Param(k, str(v)[:MAX_PARAM_LENGTH]) for k, v in sorted(params.items())]
        for i in range(0, len(items), MAX_BATCH):
            chunk = items[i:i + MAX_BATCH]
            self._call(lambda chunk=chunk: self.client.log_batch(run_id, params=chunk))

    def set_tags(self, run_id: str, tags: Mapping[str, Any]) -> None:
        items = [RunTag(k, str(v)) for k, v in sorted(tags.items())]
        self._call(lambda: self.client.log_batch(run_id, tags=items))

    def log_epoch(self, run_id: str, epoch: int, metrics: Mapping[str, float]) -> None:
        """Metrics of one epoch, at step = epoch (1-based)."""
        now = get_current_time_millis()
        items = [Metric(k, float(v), now, epoch) for k, v in sorted(metrics.items())]
        self._call(lambda: self.client.log_batch(run_id, metrics=items))

    def logged_epochs(self, run_id: str, key: str) -> int:
        """The last step logged for metric `key` (0 if none): where a resumed run picks up."""
        history = self._call(lambda: self.client.get_metric_history(run_id, key))
        return max((m.step for m in history), default=0)

    def log_metrics(self, run_id: str, metrics: Mapping[str, float]) -> None:
        now = get_current_time_millis()
        items = [Metric(k, float(v), now, 0) for k, v in sorted(metrics.items())]
        self._call(lambda: self.client.log_batch(run_id, metrics=items))

    def log_datasets(self, run_id: str, lineage: DataLineage) -> None:
        """The splits the run saw, as its dataset inputs (logging them again adds nothing)."""
        self._call(lambda: self.client.log_inputs(run_id, dataset_inputs(lineage)))

    @contextlib.contextmanager
    def system_metrics(self, run_id: str) -> Iterator[None]:
        """While the block runs, sample the machine's CPU, memory, disk and network use (and
        NVIDIA GPUs, where nvidia-ml-py is installed) into run `run_id` as `system/*` metrics,
        every SYSTEM_METRICS_INTERVAL_S. A block that succeeds is sampled once more at its end,
        so a run shorter than one interval has its sample too. Best effort, as in MLflow: a
        failed sample is at most a warning in the log, never a failed training."""
        from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor

        monitor = SystemMetricsMonitor(run_id, sampling_interval=SYSTEM_METRICS_INTERVAL_S,
                                       resume_logging=True, tracking_uri=self.tracking_uri)
        monitor.start()
        try:
            yield
        finally:
            monitor.finish()
        with contextlib.suppress(Exception):  # a lost sample is no failed training
            monitor.collect_metrics()
            monitor.publish_metrics(monitor.aggregate_metrics())
            self._call(monitor.mlflow_logger.flush)

    def log_artifact(self, run_id: str, path: Path, artifact_path: str | None = None) -> None:
        self._call(lambda: self.client.log_artifact(run_id, str(path), artifact_path))

    def log_keras_model(self, run_id: str, model: Any, name: str = "model") -> str:
        """Log `model` as an MLflow Keras model with its tensor signature; returns its URI.

        Requirements are pinned from what is installed instead of MLflow's inference, which
        reloads the model in a subprocess and takes longer than our short default trainings.
        """
        import mlflow
        import mlflow.keras

        signature = keras_signature(model)
        mlflow.set_tracking_uri(self.tracking_uri)

        def log() -> str:
            with mlflow.start_run(run_id=run_id, experiment_id=self.experiment_id):
                info = mlflow.keras.log_model(
                    model, name=name, signature=signature,
                    pip_requirements=pinned_requirements())
                # Leaving the block marks the run FINISHED; `finish` sets the final status.
            return info.model_uri

        return self._call(log)

    def finish(self, run_id: str, status: str = "FINISHED") -> None:
        self._call(lambda: self.client.set_terminated(run_id, status=status))

    def failed_on_error(self, run_id: str) -> contextlib.AbstractContextManager[None]:
        """End run `run_id` FAILED if the block raises anything, then re-raise."""
        return failed_on_error(self.finish, run_id)


def keras_signature(model: Any) -> Any:
    """Tensor signature from the model's own input and output shapes (batch axis = -1)."""
    import numpy as np
    from mlflow.models import ModelSignature
    from mlflow.types.schema import Schema, TensorSpec

    def spec(tensor: Any, name: str | None) -> TensorSpec:
        shape = tuple(-1 if d is None else int(d) for d in tensor.shape)
        return TensorSpec(np.dtype("float32"), shape, name)

    return ModelSignature(inputs=Schema([spec(model.inputs[0], model.inputs[0].name)]),
                          outputs=Schema([spec(model.outputs[0], None)]))


def pinned_requirements() -> list[str]:
    """The serving requirements of a logged Keras model: keras, its backend, mlflow, numpy.
    Each group pins its first installed distribution. JAX pins jaxlib too: jax accepts a
    range of jaxlib versions, so pinning jax alone would not reproduce the trained one."""
    from importlib.metadata import PackageNotFoundError, version

    import keras

    backend = {"tensorflow": [("tensorflow-cpu", "tensorflow")], "jax": [("jax",), ("jaxlib",)],
               "torch": [("torch",)]}.get(keras.backend.backend(), [])
    pins = []
    for names in (("keras",), *backend, ("mlflow",), ("numpy",)):
        for dist in names:
            try:
                pins.append(f"{dist}=={version(dist)}")
                break
            except PackageNotFoundError:
                continue
    return pins
