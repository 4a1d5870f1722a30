"""The Keras backends the project is tested on, and a child process's environment for each.

The backend is fixed when keras is first imported, so a test that runs code on another backend
runs it in a child process with these variables. A JAX child also cannot import TensorFlow
(no_tensorflow/sitecustomize.py): the JAX path must work on a host that has no TensorFlow.
"""

from __future__ import annotations

import os
from pathlib import Path

BACKENDS = ("tensorflow", "jax")
"""TensorFlow (the default) and JAX (GPU hosts); requirements.lock pins both."""

NO_TENSORFLOW = Path(__file__).resolve().with_name("no_tensorflow")


def backend_variables(backend: str) -> dict[str, str]:
    """Environment variables (to set over os.environ) for a child on Keras `backend`."""
    variables = {"KERAS_BACKEND": backend}
    if backend == "jax":
        variables["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(NO_TENSORFLOW), os.environ.get("PYTHONPATH", "")) if p)
    return variables
