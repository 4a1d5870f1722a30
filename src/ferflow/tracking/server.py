"""A remote tracking server (`http(s)://...`): is it there, and does it let us in?

A team's server sits behind MLflow's basic-auth app. MLflow reads the account from
MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD; ferflow never takes credentials any other
way and never writes them anywhere. A refused or unreachable server ends a command with one
`ferflow: error` naming the server and what to set, instead of MLflow's stack trace.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from ferflow.errors import FerflowError

CREDENTIALS = ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")
_UNREACHABLE = ("Max retries exceeded", "Connection refused", "Connection aborted",
                "Failed to establish a new connection", "Read timed out")


def is_server(uri: str) -> bool:
    return uri.startswith(("http://", "https://"))


def server_error(uri: str, exc: MlflowException) -> FerflowError | None:
    """The user's error in `exc`, from server `uri`: refused credentials, a missing permission
    or no server answering; None for any other MLflow error."""
    user = os.environ.get(CREDENTIALS[0], "")
    has_password = bool(os.environ.get(CREDENTIALS[1]))
    if exc.error_code == "UNAUTHENTICATED":
        who = (f"the password of user {user!r}" if user and has_password
               else "a request without credentials")
        return FerflowError(
            f"the MLflow tracking server {uri} refused {who} (HTTP 401): set "
            f"{CREDENTIALS[0]} and {CREDENTIALS[1]} in the environment to an account on that "
            "server (ferflow reads them from the environment only)")
    if exc.error_code == "PERMISSION_DENIED":
        return FerflowError(
            f"the MLflow tracking server {uri} denied user {user!r} this request (HTTP 403: "
            f"{exc.message.splitlines()[0]}); ask its admin for EDIT permission, or set "
            f"{CREDENTIALS[0]} / {CREDENTIALS[1]} to an account that has it")
    if any(marker in exc.message for marker in _UNREACHABLE):
        return FerflowError(
            f"the MLflow tracking server {uri} cannot be reached ({_reason(exc.message)}); "
            "start it or fix MLFLOW_TRACKING_URI, then rerun: a training resumes its MLflow run "
            "from its last checkpoint")
    return None


def _without_user(uri: str) -> str:
    parts = urlsplit(uri)
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def _reason(message: str) -> str:
    for marker in ("Connection refused", "Read timed out", "Connection aborted"):
        if marker in message:
            return marker.lower()
    return message.splitlines()[0][:200]


@contextlib.contextmanager
def server_errors(uri: str) -> Iterator[None]:
    """Turn a refused or unreachable server inside the block into its FerflowError."""
    try:
        yield
    except MlflowException as exc:
        if not is_server(uri):
            raise
        error = server_error(uri, exc)
        if error is None:
            raise
        raise error from None


def check_server(uri: str) -> None:
    """One cheap authenticated request to a tracking server before any work (no-op for a
    local store), so that a wrong password stops a stage before it trains for an hour."""
    if not is_server(uri):
        return
    if "@" in urlsplit(uri).netloc:
        raise FerflowError(
            f"MLFLOW_TRACKING_URI carries credentials: give the server as {_without_user(uri)} "
            f"and the account in {CREDENTIALS[0]} / {CREDENTIALS[1]} (a tracking URI is "
            "written into models/<backbone>/run.json and the MLflow store)")
    with server_errors(uri):
        MlflowClient(tracking_uri=uri).search_experiments(max_results=1)
