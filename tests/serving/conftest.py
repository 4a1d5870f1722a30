"""A tiny Keras model, and the same model registered as the `champion` pyfunc in a real SQLite
MLflow store (module-scoped: logging a model takes seconds)."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import mlflow
import numpy as np
import pytest
from mlflow import MlflowClient
from PIL import Image

from ferflow.config import SyntheticParams
from ferflow.data.synthetic import generate_faces
from ferflow.models.zoo import create_model
from ferflow.serving.pyfunc import emotion_model_spec
from ferflow.tracking.model_registry import CHAMPION, ModelRegistry, register_version


@pytest.fixture(scope="session")
def keras_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("model") / "model.keras"
    create_model("cpu_net", width=0.125, seed=7).model.save(path)
    return path


@dataclass(frozen=True)
class Registered:
    tracking_uri: str
    name: str

    @property
    def champion_uri(self) -> str:
        return f"models:/{self.name}@{CHAMPION}"


@pytest.fixture(scope="session")
def registered(tmp_path_factory: pytest.TempPathFactory, keras_file: Path) -> Registered:
    root = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{root}/mlflow.db"
    mlflow.set_tracking_uri(uri)
    client = MlflowClient(uri)
    experiment = client.create_experiment("ferflow", artifact_location=(root / "art").as_uri())
    run = client.create_run(experiment, run_name="cpu_net")
    logged = ModelRegistry(uri).log_into_run(
        run.info.run_id, emotion_model_spec([keras_file], {"candidate": "cpu_net"}))
    version = register_version(client, "ferflow-emotion", model_uri=logged.model_uri,
                               run_id=logged.run_id, model_id=logged.model_id,
                               tags={"backbone": "cpu_net"}, description="test")
    client.set_registered_model_alias("ferflow-emotion", CHAMPION, str(version.version))
    return Registered(uri, "ferflow-emotion")


@pytest.fixture(scope="session")
def synthetic_faces() -> np.ndarray:
    """48x48 grey faces drawn by ferflow's synthetic generator."""
    return generate_faces(SyntheticParams(rows=70), seed=3).images


def _encode(pixels: np.ndarray, mode: str = "L", fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).convert(mode).save(buffer, format=fmt)
    return buffer.getvalue()


@pytest.fixture(scope="session")
def encode():
    """`encode(pixels, mode="L", fmt="PNG") -> bytes` of an image file."""
    return _encode


@pytest.fixture(scope="session")
def face_photo() -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """A 480x320 grey photo with two real faces (Grace Hopper, Eileen Collins) left to right,
    and their boxes (`face_scenes.two_face_photo`). Real faces, since MTCNN, the default
    detector, rightly finds none in the synthetic generator's drawings."""
    from face_scenes import two_face_photo

    scene = two_face_photo()
    return scene.grey, list(scene.faces)

