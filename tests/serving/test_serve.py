"""`mlflow models serve` on the registered champion: a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import base64
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

import numpy as np
import pytest

from ferflow import EMOTIONS
from ferflow.models.inference import load_classifier, predict_probabilities

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(url: str, payload: dict) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=json.dumps(payload).encode(),
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.fixture(scope="module")
def server(registered, tmp_path_factory) -> Iterator[str]:
    port = free_port()
    log = (tmp_path_factory.mktemp("serve") / "server.log").open("w+")
    # The server execs `uvicorn` from PATH: put this venv's bin first, as `make` does.
    path = f"{os.path.dirname(sys.executable)}{os.pathsep}{os.environ.get('PATH', '')}"
    env = {**os.environ, "MLFLOW_TRACKING_URI": registered.tracking_uri, "PATH": path}
    process = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "models", "serve", "-m", registered.champion_uri,
         "--env-manager", "local", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 240
        while True:
            try:
                with urllib.request.urlopen(f"{url}/ping", timeout=2) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                pytest.fail(f"server did not come up (exit {process.poll()}):\n"
                            f"{log.read()[-3000:]}")
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
        log.close()


def test_served_model_answers_base64_images(server, keras_file, encode, synthetic_faces) -> None:
    faces = synthetic_faces[:2]
    rows = [[base64.b64encode(encode(f)).decode()] for f in faces]
    status, body = post(f"{server}/invocations",
                        {"dataframe_split": {"columns": ["image"], "data": rows}})
    assert status == 200, body
    predictions = body["predictions"]
    assert [list(p) for p in predictions] == [list(EMOTIONS)] * 2
    got = np.array([[p[e] for e in EMOTIONS] for p in predictions])
    np.testing.assert_allclose(got.sum(axis=1), 1.0, rtol=1e-5)
    expected = predict_probabilities(load_classifier(keras_file), faces)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)


def test_served_model_answers_pixel_lists(server, synthetic_faces) -> None:
    pixels = synthetic_faces[:3].reshape(3, -1).tolist()
    status, body = post(f"{server}/invocations", {"inputs": pixels})
    assert status == 200, body
    assert len(body["predictions"]) == 3


def test_bad_request_is_a_400_that_says_why(server) -> None:
    status, body = post(f"{server}/invocations",
                        {"dataframe_split": {"columns": ["image"], "data": [["%%%"]]}})
    assert status == 400
    assert "not valid base64" in body["message"]
