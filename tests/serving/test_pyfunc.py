from __future__ import annotations

import base64
import json
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.exceptions import MlflowException
from mlflow.models.utils import load_serving_example

from ferflow import EMOTIONS
from ferflow.models.inference import load_classifier, predict_probabilities
from ferflow.serving.pyfunc import unwrap


@pytest.fixture(scope="module")
def champion(registered):
    mlflow.set_tracking_uri(registered.tracking_uri)
    return mlflow.pyfunc.load_model(registered.champion_uri)


def test_pyfunc_returns_one_probability_column_per_emotion(champion, keras_file, encode,
                                                           synthetic_faces) -> None:
    faces = synthetic_faces[:3]
    frame = pd.DataFrame({"image": [base64.b64encode(encode(f)).decode() for f in faces]})
    out = champion.predict(frame)
    assert isinstance(out, pd.DataFrame) and list(out.columns) == list(EMOTIONS)
    expected = predict_probabilities(load_classifier(keras_file), faces)
    np.testing.assert_allclose(out.to_numpy(), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(champion.predict(faces.reshape(3, -1)).to_numpy(), expected,
                               rtol=1e-5, atol=1e-6)


def test_pyfunc_bundles_ferflow_and_pins_requirements(champion) -> None:
    assert len(unwrap(champion).models) == 1
    local = Path(mlflow.artifacts.download_artifacts(champion.metadata.get_model_info().model_uri))
    requirements = (local / "requirements.txt").read_text()
    assert "keras==" in requirements and "mlflow==" in requirements
    assert (local / "code" / "ferflow" / "serving" / "pyfunc.py").is_file()
    assert not (local / "python_model.pkl").exists()  # models from code: nothing pickled


def test_bad_input_is_an_invalid_parameter_error(champion) -> None:
    with pytest.raises(MlflowException, match="not valid base64") as caught:
        champion.predict(pd.DataFrame({"image": ["%%%"]}))
    assert caught.value.error_code == "INVALID_PARAMETER_VALUE"


def test_a_client_reads_outputs_and_an_example_request_before_calling(registered,
                                                                     champion) -> None:
    signature = mlflow.models.get_model_info(registered.champion_uri).signature
    assert signature.outputs.input_names() == list(EMOTIONS)
    assert signature.inputs is None  # not enforced: arrays and base64 images both go in
    request = json.loads(load_serving_example(registered.champion_uri))
    assert request["dataframe_split"]["columns"] == ["image"]
    example = champion.input_example
    assert list(example.columns) == ["image"] and len(example) == 1
    answer = champion.predict(example)
    assert list(answer.columns) == list(EMOTIONS)
    assert answer.to_numpy().sum() == pytest.approx(1.0, abs=1e-5)
