"""One register at a time moves a model's aliases, across every machine that shares the store.

Two registers that both read "no champion" (or the same champion) and then both set the alias
would each report a new champion, and one of them would be wrong. The store has no
compare-and-set on aliases, but creating a registered model is atomic (its name is unique, on
SQLite and PostgreSQL alike, also through a tracking server): the lock is the registered
model `<name>.promotion-lock`, created to take it and deleted to give it back.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Iterator

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import RESOURCE_ALREADY_EXISTS, ErrorCode
from mlflow.utils.time import get_current_time_millis

from ferflow.errors import FerflowError
from ferflow.tracking.store import retry_locked

SUFFIX = ".promotion-lock"
WAIT_S = 600.0
"""How long a register waits for another one's promotion (re-scoring a champion takes seconds)."""
STALE_S = 900.0
"""A lock older than this was left by a register that died holding it: it is broken."""


def _held_for_s(client: MlflowClient, lock: str) -> float | None:
    try:
        created = client.get_registered_model(lock).creation_timestamp
    except MlflowException:
        return None  # released meanwhile
    return (get_current_time_millis() - int(created or 0)) / 1000


@contextlib.contextmanager
def promotion_lock(client: MlflowClient, name: str, *, wait_s: float = WAIT_S,
                   stale_s: float = STALE_S) -> Iterator[None]:
    """Hold the promotion lock of registered model `name` for the block."""
    lock = name + SUFFIX
    deadline = time.monotonic() + wait_s
    while True:
        try:
            retry_locked(lambda: client.create_registered_model(
                lock, description=f"held by a ferflow register while it moves {name}'s aliases"))
            break
        except MlflowException as exc:
            if exc.error_code != ErrorCode.Name(RESOURCE_ALREADY_EXISTS):
                raise
        held = _held_for_s(client, lock)
        if held is not None and held > stale_s:
            with contextlib.suppress(MlflowException):
                client.delete_registered_model(lock)
            continue
        if time.monotonic() > deadline:
            raise FerflowError(
                f"registered model {lock} has been held by another register for "
                f"{held or 0:.0f} s; wait for it to finish, or delete {lock} in the MLflow UI "
                "if no register is running")
        time.sleep(0.2 + 0.6 * random.random())
    try:
        yield
    finally:
        with contextlib.suppress(MlflowException):
            retry_locked(lambda: client.delete_registered_model(lock))
