"""`mlflow models serve` on the registered champion: a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator

import numpy as np
import pytest
from model_server import post, serving

from ferflow import EMOTIONS
from ferflow.models.inference import load_classifier, predict_probabilities

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(registered, tmp_path_factory) -> Iterator[str]:
    env = {**os.environ, "MLFLOW_TRACKING_URI": registered.tracking_uri}
    with serving(registered.champion_uri, env,
                 tmp_path_factory.mktemp("serve") / "server.log") as url:
        yield url


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
