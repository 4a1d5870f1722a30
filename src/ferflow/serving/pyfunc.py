"""The registered model: an MLflow pyfunc that takes face images and returns emotion
probabilities, wrapping one Keras model file (or several, whose probabilities it averages).

Logged as MLflow 3 "models from code" (`model_code.py`, no pickle) with the `.keras` files as
artifacts and the ferflow package bundled as model code, so the model loads with the code it was
registered with, in any environment that has the pinned requirements. It carries a signature
(its output columns) and an input example (one face as base64 PNG) for clients to read.
"""

from __future__ import annotations

import base64
import io
import os
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.types.schema import ColSpec, DataType, Schema
from PIL import Image

import ferflow
from ferflow import EMOTIONS
from ferflow.errors import FerflowError
from ferflow.serving.images import IMAGE_COLUMN, faces_from_input
from ferflow.tracking.mlflow_service import pinned_requirements
from ferflow.tracking.model_registry import PyfuncSpec

MODEL_ARTIFACT_PREFIX = "keras_model_"
LOGGED_MODEL_NAME = "emotion_model"

# Imported at load and predict time besides what every ferflow Keras model needs (ferflow
# itself travels as model code).
_SERVING_EXTRAS = ("pandas", "pillow", "tqdm")


class EmotionClassifier(mlflow.pyfunc.PythonModel):
    """Faces in (see `ferflow.serving.images.faces_from_input`), a DataFrame out: one row per
    face, one probability column per emotion (`ferflow.EMOTIONS` order)."""

    def load_context(self, context: mlflow.pyfunc.PythonModelContext) -> None:
        from ferflow.models.inference import load_classifier

        keys = sorted(k for k in context.artifacts if k.startswith(MODEL_ARTIFACT_PREFIX))
        self.models = [load_classifier(context.artifacts[k]) for k in keys]

    def probabilities(self, faces: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """(N, 48, 48) grey faces 0..255 → (N, 7): the mean over the wrapped models."""
        from ferflow.models.inference import predict_probabilities

        total = sum(predict_probabilities(m, faces, batch_size) for m in self.models)
        return np.asarray(total, dtype=np.float32) / len(self.models)

    # MLflow reads this hint: pd.DataFrame keeps it from inferring an input schema, which it
    # would enforce, while the REST `inputs` form also delivers arrays and dicts
    # (faces_from_input takes all). See `emotion_signature`.
    def predict(
        self,
        context: mlflow.pyfunc.PythonModelContext | None,
        model_input: pd.DataFrame,
        params: dict[str, Any] | None = None,
    ) -> pd.DataFrame:
        try:
            faces = faces_from_input(model_input)
        except FerflowError as exc:
            raise MlflowException(str(exc), error_code=INVALID_PARAMETER_VALUE) from None
        return pd.DataFrame(self.probabilities(faces), columns=list(EMOTIONS))


def emotion_signature() -> ModelSignature:
    """What `mlflow.models.get_model_info(uri).signature` tells a client: one probability
    column per emotion. It has no input schema on purpose: MLflow enforces one on every call,
    and a column schema would turn away the pixel arrays the model also takes (the REST
    `inputs` form, `predict(faces)`); the input example shows the request instead."""
    return ModelSignature(outputs=Schema([ColSpec(DataType.float, name) for name in EMOTIONS]))


def input_example() -> pd.DataFrame:
    """A request the model answers: one synthetic happy face as base64 PNG in the `image`
    column (the form of `dataframe_split` / `dataframe_records` requests)."""
    # Imported here, at registration: the served model's own imports need no pydantic.
    from ferflow.data.synthetic import draw_faces

    face = draw_faces(np.array([EMOTIONS.index("happy")]), noise=0.0, seed=0)[0]
    png = io.BytesIO()
    Image.fromarray(face).save(png, format="PNG")
    return pd.DataFrame({IMAGE_COLUMN: [base64.b64encode(png.getvalue()).decode("ascii")]})


def pip_requirements() -> list[str]:
    """The installed versions of what the pyfunc needs, pinned: keras, its backend, mlflow,
    numpy, and the image and table libraries of the input decoding."""
    return pinned_requirements() + [f"{name}=={metadata.version(name)}"
                                    for name in _SERVING_EXTRAS]


def emotion_model_spec(
    keras_files: Sequence[str | os.PathLike[str]], metadata_: dict[str, Any] | None = None
) -> PyfuncSpec:
    """The registered model over `keras_files`, ready for `ModelRegistry` to log."""
    for path in keras_files:
        if not Path(path).is_file():
            raise FerflowError(f"{path}: model file not found; run the train stage first")
    return PyfuncSpec(
        name=LOGGED_MODEL_NAME,
        python_model=str(Path(__file__).with_name("model_code.py")),
        artifacts={f"{MODEL_ARTIFACT_PREFIX}{i}": str(p) for i, p in enumerate(keras_files)},
        code_paths=[str(Path(ferflow.__file__).parent)],
        pip_requirements=pip_requirements(),
        metadata={"emotions": list(EMOTIONS), **(metadata_ or {})},
        signature=emotion_signature(),
        input_example=input_example(),
    )


def unwrap(model: mlflow.pyfunc.PyFuncModel) -> EmotionClassifier:
    """The EmotionClassifier inside a loaded pyfunc (FerflowError if it is another model)."""
    inner = model.unwrap_python_model()
    if not isinstance(inner, EmotionClassifier):
        raise FerflowError(f"{model.metadata.model_uri if model.metadata else 'model'}: not a "
                           "ferflow emotion model (it wraps "
                           f"{type(inner).__name__}); register one with the register stage")
    return inner
