"""Temperature scaling (Guo et al. 2017, "On Calibration of Modern Neural Networks"): one
positive number T that divides a classifier's scores before the softmax, fitted on the
validation split by minimising its negative log-likelihood.

The temperature lives inside the saved model as its last layer (`TemperatureScaling`), so every
consumer that takes the softmax of the model's output (evaluation, `ferflow predict`, the served
pyfunc, exports) gets the calibrated probabilities without reading another file. A model saved
before calibration existed has no such layer and reads as T = 1. A positive T never changes
which class scores highest, so accuracies stay exactly what they were.

For the `softmax` head T rescales logits the training already made log-odds; for the `l2svm`
head it turns SVM margins into probabilities fitted to the data (a one-parameter Platt scaling
shared by all classes).
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

MIN_TEMPERATURE = 0.01
MAX_TEMPERATURE = 100.0
"""The search interval of `fit_temperature`: a separable validation split drives the NLL's
optimum towards T → 0, which the lower bound stops."""

_GOLDEN = (np.sqrt(5.0) - 1.0) / 2.0


@keras.saving.register_keras_serializable(package="ferflow")
class TemperatureScaling(keras.layers.Layer):
    """Scores divided by a fixed `temperature` (a config value, not a weight: it is fitted
    after training and never trained, and the model's parameter count stays the same)."""

    def __init__(self, temperature: float = 1.0, **kwargs: Any) -> None:
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        if not temperature > 0:
            raise ValueError(f"temperature must be positive; got {temperature}")
        self.temperature = float(temperature)

    def call(self, inputs: Any) -> Any:
        return inputs / self.temperature

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "temperature": self.temperature}


def model_temperature(model: keras.Model) -> float:
    """The temperature a saved model applies to its scores; 1.0 for a model without one."""
    last = model.layers[-1] if model.layers else None
    return last.temperature if isinstance(last, TemperatureScaling) else 1.0


def with_temperature(model: keras.Model, temperature: float) -> keras.Model:
    """`model` with its scores divided by `temperature` (a functional model over the same
    layers and weights, of the same name); a temperature it already had is replaced."""
    last = model.layers[-1]
    scores = last.input if isinstance(last, TemperatureScaling) else model.output
    outputs = TemperatureScaling(temperature, name="temperature")(scores)
    return keras.Model(model.inputs, outputs, name=model.name)


def _log_softmax(scores: np.ndarray) -> np.ndarray:
    shifted = scores - scores.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def negative_log_likelihood(scores: np.ndarray, labels: np.ndarray,
                            temperature: float = 1.0) -> float:
    """Mean -log softmax(scores / temperature)[label] (float64)."""
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    log_probs = _log_softmax(scores / temperature)
    return float(-log_probs[np.arange(len(labels)), labels].mean())


def fit_temperature(scores: np.ndarray, labels: np.ndarray, *, iterations: int = 80) -> float:
    """The T in [MIN_TEMPERATURE, MAX_TEMPERATURE] that minimises the NLL of
    softmax(scores / T) on (`scores`, `labels`): golden-section search over log T.

    The NLL is convex in 1/T, hence unimodal in log T, so the search finds the optimum within
    the bounds (to about 1e-15 relative after 80 steps); it is deterministic and needs no
    gradient. An empty split gives 1.0.
    """
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    if scores.ndim != 2 or len(scores) != len(labels):
        raise ValueError(f"scores {scores.shape} and labels {labels.shape} do not match")
    if len(labels) == 0:
        return 1.0

    def loss(log_t: float) -> float:
        return negative_log_likelihood(scores, labels, float(np.exp(log_t)))

    low, high = np.log(MIN_TEMPERATURE), np.log(MAX_TEMPERATURE)
    a, b = high - _GOLDEN * (high - low), low + _GOLDEN * (high - low)
    loss_a, loss_b = loss(a), loss(b)
    for _ in range(iterations):
        if loss_a <= loss_b:
            high, b, loss_b = b, a, loss_a
            a = high - _GOLDEN * (high - low)
            loss_a = loss(a)
        else:
            low, a, loss_a = a, b, loss_b
            b = low + _GOLDEN * (high - low)
            loss_b = loss(b)
    return float(np.exp((low + high) / 2))
