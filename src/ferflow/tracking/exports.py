"""Exported model files in MLflow: logged as artifacts of a registered version's source run,
found again through the version's tags (`export.<engine>` → the artifact's path in that run).

A registry URI names a version (`models:/name@alias`, `models:/name/3`); its source run is the
run the version was logged from (a backbone's training run, or an ensemble's own run).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

from ferflow.errors import FerflowError
from ferflow.tracking.model_registry import model_uri, version_by_alias
from ferflow.tracking.server import check_server, server_errors
from ferflow.tracking.store import retry_locked, sqlite_path, tracking_uri

EXPORT_ARTIFACTS = "export"
"""The folder of a run's artifacts that holds its exported files."""
TAG_PREFIX = "export."


@dataclass(frozen=True)
class VersionRef:
    """A registered version and the run its files are logged into."""

    name: str
    version: str
    run_id: str

    @property
    def uri(self) -> str:
        """`models:/name/<version>`: this very version, even if an alias moves meanwhile."""
        return model_uri(self.name, version=self.version)


def _client(store: str | None) -> tuple[MlflowClient, str]:
    uri = store or tracking_uri()
    db = sqlite_path(uri)
    if db is not None and not db.is_file():
        raise FerflowError(f"there is no MLflow store at {db}; run the pipeline first (make "
                           "run) or set MLFLOW_TRACKING_URI to the store that has the model")
    check_server(uri)
    return MlflowClient(tracking_uri=uri, registry_uri=uri), uri


def _ref(version: ModelVersion) -> VersionRef:
    if not version.run_id:
        raise FerflowError(f"version {version.version} of {version.name} has no source run to "
                           "log exported files into; register it with the register stage")
    return VersionRef(version.name, str(version.version), version.run_id)


def resolve_version(registry_uri: str, store: str | None = None) -> VersionRef | None:
    """The version a `models:/name@alias` or `models:/name/<version>` URI names (FerflowError
    when it does not exist); None for any other URI or path."""
    if not registry_uri.startswith("models:/"):
        return None
    client, uri = _client(store)
    target = registry_uri.removeprefix("models:/")
    with server_errors(uri):
        try:
            if "@" in target:
                name, alias = target.rsplit("@", 1)
                version = version_by_alias(client, name, alias)
            else:
                name, number = target.rsplit("/", 1)
                version = retry_locked(lambda: client.get_model_version(name, number))
        except (MlflowException, ValueError):
            version = None
    if version is None:
        raise FerflowError(f"{registry_uri}: no such registered version in {uri}; run the "
                           "pipeline first (make run) so the register stage sets the champion "
                           "alias, or pass --model PATH.keras")
    return _ref(version)


def version_of_run(run_id: str, store: str | None = None) -> VersionRef | None:
    """The newest registered version logged from run `run_id`, or None."""
    client, uri = _client(store)
    with server_errors(uri):
        found = retry_locked(lambda: client.search_model_versions(f"run_id = '{run_id}'"))
    if not found:
        return None
    return _ref(max(found, key=lambda v: int(v.version)))


def log_export(folder: Path, run_id: str, version: VersionRef | None,
               tags: Mapping[str, str], store: str | None = None) -> str:
    """Log the files of `folder` under `export/` of run `run_id` and, for a registered
    `version`, tag it with `export.<key>` for each of `tags` (relative file names become
    artifact paths). Returns the artifacts' URI."""
    client, uri = _client(store)
    with server_errors(uri):
        retry_locked(lambda: client.log_artifacts(run_id, str(folder), EXPORT_ARTIFACTS))
        if version is not None:
            for key, value in tags.items():
                retry_locked(lambda k=key, v=value: client.set_model_version_tag(
                    version.name, version.version, f"{TAG_PREFIX}{k}", v))
        root = retry_locked(lambda: client.get_run(run_id)).info.artifact_uri
    return f"{root}/{EXPORT_ARTIFACTS}"


def export_artifact(file_name: str) -> str:
    """The artifact path, in its run, of an exported file `log_export` logged."""
    return f"{EXPORT_ARTIFACTS}/{file_name}"


def download_export(registry_uri: str, key: str, dst: str | os.PathLike[str],
                    store: str | None = None) -> Path:
    """Download the file that tag `export.<key>` of the version `registry_uri` names into
    `dst`; FerflowError when the version has no such export."""
    ref = resolve_version(registry_uri, store)
    if ref is None:
        raise FerflowError(f"{registry_uri}: exported files are found through a registered "
                           "version (models:/name@alias or models:/name/<version>), or pass "
                           "the exported file itself")
    client, uri = _client(store)
    with server_errors(uri):
        version = retry_locked(lambda: client.get_model_version(ref.name, ref.version))
        path = version.tags.get(f"{TAG_PREFIX}{key}")
        if not path:
            raise FerflowError(f"{registry_uri} (version {ref.version}) has no {key} export; "
                               f"write one with `ferflow export --model {ref.uri}`")
        try:
            local = client.download_artifacts(ref.run_id, path, str(dst))
        except (MlflowException, OSError) as exc:
            raise FerflowError(f"{registry_uri}: cannot download {path} from run {ref.run_id} "
                               f"({exc}); export it again with `ferflow export`") from None
    return Path(local)
