"""MLflow model registry: new versions, promotion by alias, and loading a model back.

`champion` is the version in use (`models:/<name>@champion`); a new version takes it only if it
beats the current champion on the *current* validation split (the release step judges how; see
`Verdict`), otherwise it becomes the `challenger`. Aliases replace MLflow's deprecated stages.
Writes are retried while a shared SQLite store is locked by parallel runs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import mlflow
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import RESOURCE_ALREADY_EXISTS, RESOURCE_DOES_NOT_EXIST, ErrorCode

from ferflow.errors import FerflowError
from ferflow.tracking.registry_lock import promotion_lock
from ferflow.tracking.server import check_server, server_errors
from ferflow.tracking.store import retry_locked, sqlite_path, tracking_uri

CHAMPION = "champion"
CHALLENGER = "challenger"


def model_uri(name: str, *, alias: str | None = None, version: str | None = None) -> str:
    """`models:/<name>@<alias>` or `models:/<name>/<version>`: the registry's model URIs."""
    if (alias is None) == (version is None):
        raise ValueError("give exactly one of alias and version")
    return f"models:/{name}@{alias}" if alias is not None else f"models:/{name}/{version}"

STORE_SCHEMES = ("models:", "runs:")
"""Model URIs that are resolved through the tracking store (the others name files)."""


def _is(exc: MlflowException, code: int) -> bool:
    return exc.error_code == ErrorCode.Name(code)


def load_pyfunc(model_uri: str, store: str | None = None) -> mlflow.pyfunc.PyFuncModel:
    """Load an MLflow model (`models:/name@alias`, `runs:/...`, a path) from `store`, by
    default $MLFLOW_TRACKING_URI, else the repository's store; FerflowError if it cannot be
    loaded.

    A `models:/` or `runs:/` URI is refused before MLflow opens a SQLite store that does not
    exist: opening it would create an empty database as a side effect of a read.
    """
    uri = store or tracking_uri()
    db = sqlite_path(uri)
    if model_uri.startswith(STORE_SCHEMES) and db is not None and not db.is_file():
        raise _cannot_load(model_uri, uri, f"there is no MLflow store at {db}")
    if model_uri.startswith(STORE_SCHEMES):
        check_server(uri)
    mlflow.set_tracking_uri(uri)
    try:
        with server_errors(uri):
            return mlflow.pyfunc.load_model(model_uri)
    except (MlflowException, OSError) as exc:
        raise _cannot_load(model_uri, uri, getattr(exc, "message", str(exc))) from None


def _cannot_load(model_uri: str, store: str, reason: str) -> FerflowError:
    return FerflowError(
        f"cannot load model {model_uri} from {store} ({reason.splitlines()[0]}); run the "
        "pipeline first (make run) so the register stage sets the champion alias, set "
        "MLFLOW_TRACKING_URI to the store that has it, or pass --model PATH.keras")


def ensure_registered_model(client: MlflowClient, name: str, description: str) -> None:
    """Create registered model `name` unless it exists."""
    try:
        retry_locked(lambda: client.create_registered_model(name, description=description))
    except MlflowException as exc:
        if not _is(exc, RESOURCE_ALREADY_EXISTS):
            raise


def register_version(
    client: MlflowClient,
    name: str,
    *,
    model_uri: str,
    run_id: str | None,
    model_id: str | None,
    tags: dict[str, Any],
    description: str,
    model_description: str = "",
) -> ModelVersion:
    """Register the logged model at `model_uri` as a new version of `name` (created if needed)."""
    ensure_registered_model(client, name, model_description)
    return retry_locked(lambda: client.create_model_version(
        name,
        source=model_uri,
        run_id=run_id,
        tags={k: str(v) for k, v in tags.items()},
        description=description,
        model_id=model_id,
    ))


def _set_alias(client: MlflowClient, name: str, alias: str, version: str) -> None:
    retry_locked(lambda: client.set_registered_model_alias(name, alias, version))


def version_by_alias(client: MlflowClient, name: str, alias: str) -> ModelVersion | None:
    """The version `alias` points to, or None when the model or the alias does not exist."""
    try:
        model = client.get_registered_model(name)
    except MlflowException as exc:
        if _is(exc, RESOURCE_DOES_NOT_EXIST):
            return None
        raise
    version = model.aliases.get(alias)
    return None if version is None else client.get_model_version(name, str(version))


@dataclass(frozen=True)
class Verdict:
    """A new version judged against the current champion on today's validation split."""

    better: bool
    """True: the new version takes the `champion` alias."""
    champion_val_accuracy: float
    reason: str
    """Why, with the numbers, e.g. "gain +0.0210 val accuracy, 95% interval ..."."""
    evidence: dict[str, float] = field(default_factory=dict)
    """The numbers behind the decision, recorded with the promotion."""


@dataclass(frozen=True)
class Promotion:
    """What `promote_if_better` decided, for the logs, the leaderboard and summary.json."""

    name: str
    version: str
    alias: str
    """The alias the new version received: `champion` or `challenger`."""
    val_accuracy: float
    previous_champion: str | None
    previous_champion_val_accuracy: float | None
    """The previous champion re-scored on the current validation split (None if there was none)."""
    reason: str
    gate: dict[str, float] = field(default_factory=dict)
    """`Verdict.evidence` when a champion was judged against (empty otherwise)."""

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def promote_if_better(
    client: MlflowClient,
    name: str,
    version: str,
    val_accuracy: float,
    *,
    judge: Callable[[str], Verdict],
) -> Promotion:
    """Give version `version` the `champion` alias if `judge` finds it better than the current
    champion, else the `challenger` alias.

    `judge(champion_model_uri)` re-scores the current champion on today's validation split, so
    a champion registered against older data is judged on the same images as the newcomer. The
    first version of a model becomes champion. When a version becomes champion, a `challenger`
    alias left on an older version is removed (the newest candidate is now in use).
    """
    version = str(version)
    current = version_by_alias(client, name, CHAMPION)
    if current is None:
        _set_alias(client, name, CHAMPION, version)
        return Promotion(name, version, CHAMPION, val_accuracy, None, None,
                         "first registered version")
    if str(current.version) == version:
        return Promotion(name, version, CHAMPION, val_accuracy, version, val_accuracy,
                         "already the champion")

    verdict = judge(model_uri(name, version=str(current.version)))
    if verdict.better:
        _set_alias(client, name, CHAMPION, version)
        challenger = version_by_alias(client, name, CHALLENGER)
        if challenger is not None and str(challenger.version) != version:
            retry_locked(lambda: client.delete_registered_model_alias(name, CHALLENGER))
    else:
        _set_alias(client, name, CHALLENGER, version)
    outcome = "beats" if verdict.better else "does not beat"
    return Promotion(name, version, CHAMPION if verdict.better else CHALLENGER, val_accuracy,
                     str(current.version), verdict.champion_val_accuracy,
                     f"{outcome} version {current.version}: {verdict.reason}",
                     dict(verdict.evidence))


@dataclass(frozen=True)
class PyfuncSpec:
    """What to log as an MLflow "models from code" pyfunc (the serving room describes it)."""

    python_model: str
    """Path of the model-code file that sets the PythonModel."""
    artifacts: dict[str, str]
    code_paths: list[str]
    pip_requirements: list[str]
    metadata: dict[str, Any] = field(default_factory=dict)
    name: str = "emotion_model"
    signature: Any = None
    """An `mlflow.models.ModelSignature`: what a client reads before calling the model."""
    input_example: Any = None
    """A request the model answers; MLflow stores it and checks it against the model."""


@dataclass(frozen=True)
class LoggedModel:
    run_id: str
    model_uri: str
    model_id: str | None


class ModelRegistry:
    """The register stage's side of MLflow: log a pyfunc into a run, register it as a new
    version, move the aliases, re-score the champion."""

    def __init__(self, tracking_uri: str) -> None:
        self.tracking_uri = tracking_uri
        check_server(tracking_uri)
        self.client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)

    def _log(self, spec: PyfuncSpec) -> Any:
        return mlflow.pyfunc.log_model(
            name=spec.name, python_model=spec.python_model, artifacts=spec.artifacts,
            code_paths=spec.code_paths, pip_requirements=spec.pip_requirements,
            metadata=spec.metadata, signature=spec.signature, input_example=spec.input_example)

    def log_into_run(self, run_id: str, spec: PyfuncSpec) -> LoggedModel:
        """Log `spec` into the existing run `run_id` (a backbone's training run)."""
        mlflow.set_tracking_uri(self.tracking_uri)
        with server_errors(self.tracking_uri), mlflow.start_run(run_id=run_id):
            info = self._log(spec)
        return LoggedModel(run_id, info.model_uri, info.model_id)

    def log_in_new_run(self, experiment_id: str, run_name: str, tags: Mapping[str, str],
                       metrics: Mapping[str, float], spec: PyfuncSpec) -> LoggedModel:
        """A new run of its own (an ensemble's) with `tags` and `metrics`, holding `spec`."""
        mlflow.set_tracking_uri(self.tracking_uri)
        with (server_errors(self.tracking_uri),
              mlflow.start_run(experiment_id=experiment_id, run_name=run_name) as active):
            mlflow.set_tags(dict(tags))
            mlflow.log_metrics(dict(metrics))
            info = self._log(spec)
        return LoggedModel(active.info.run_id, info.model_uri, info.model_id)

    def register(self, name: str, logged: LoggedModel, *, tags: dict[str, Any],
                 description: str, model_description: str) -> ModelVersion:
        with server_errors(self.tracking_uri):
            return register_version(self.client, name, model_uri=logged.model_uri,
                                    run_id=logged.run_id, model_id=logged.model_id, tags=tags,
                                    description=description,
                                    model_description=model_description)

    def promote_if_better(self, name: str, version: str, val_accuracy: float, *,
                          judge: Callable[[str], Verdict]) -> Promotion:
        """`promote_if_better`, holding the model's promotion lock: registers running at once
        (several machines, one store) decide one after the other."""
        with server_errors(self.tracking_uri), promotion_lock(self.client, name):
            return promote_if_better(self.client, name, version, val_accuracy, judge=judge)

    def run_params(self, run_id: str) -> dict[str, str]:
        """The params of run `run_id` (a backbone's training run: its effective recipe)."""
        with server_errors(self.tracking_uri):
            return dict(retry_locked(lambda: self.client.get_run(run_id)).data.params)

    def version_tag(self, name: str, version: str, key: str) -> str:
        """Tag `key` of version `version` ("" when unset)."""
        with server_errors(self.tracking_uri):
            version_ = retry_locked(lambda: self.client.get_model_version(name, version))
        return version_.tags.get(key, "")
