"""`mlflow models serve` as a test starts it: a real server on a free port of 127.0.0.1, waited
for until /ping answers, and stopped with its workers whatever the test did."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

START_TIMEOUT_S = 240


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def post(url: str, payload: dict) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=json.dumps(payload).encode(),
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _ping(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/ping", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


@contextmanager
def serving(model_uri: str, env: dict[str, str], log_path: Path,
            cwd: Path | None = None) -> Iterator[str]:
    """The URL of `mlflow models serve -m model_uri` run with `env` (the tracking URI and any
    credentials); its output goes to `log_path`, shown when it does not come up."""
    port = free_port()
    # The server execs `uvicorn` from PATH: put this venv's bin first, as `make` does.
    path = f"{os.path.dirname(sys.executable)}{os.pathsep}{env.get('PATH', '')}"
    with log_path.open("w+") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "models", "serve", "-m", model_uri,
             "--env-manager", "local", "--host", "127.0.0.1", "--port", str(port),
             "--workers", "1"],
            env={**env, "PATH": path}, cwd=cwd, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + START_TIMEOUT_S
            while not _ping(url):
                if process.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    pytest.fail(f"mlflow models serve -m {model_uri} did not come up "
                                f"(exit {process.poll()}):\n{log.read()[-3000:]}")
                time.sleep(1)
            yield url
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)  # the server and its workers
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
