"""Train a tiny cpu_net three steps on synthetic faces, calibrate it on other synthetic faces,
and save it with its temperature, plus its raw scores on those faces (`<target>.scores.npy`).

Imported by test_temperature_layer.py (the suite's backend) and run as a child process there for
another backend: `python calibration_child.py <head> <target>`."""

from __future__ import annotations

import sys
from pathlib import Path

import keras
import numpy as np

from ferflow.data.synthetic import draw_faces
from ferflow.models import loss_for_head, with_temperature
from ferflow.models.calibration import fit_temperature
from ferflow.models.inference import predict_scores
from ferflow.models.zoo import create_model

LABELS = np.arange(56) % 7


def calibration_faces() -> np.ndarray:
    """The validation faces the temperature is fitted on (labels `LABELS`)."""
    return draw_faces(LABELS, noise=0.06, seed=1)


def train_and_calibrate(head: str, target: Path) -> None:
    faces = draw_faces(LABELS, noise=0.06, seed=0)[..., None].astype("float32")
    net = create_model("cpu_net", head=head, width=0.125, dropout=0.0, seed=0).model
    net.compile(optimizer=keras.optimizers.Adam(0.01), loss=loss_for_head(head))
    targets = keras.utils.to_categorical(LABELS, 7)
    for _ in range(3):  # a few steps: scores that are no longer the initial ones
        net.train_on_batch(faces, targets)
    scores = predict_scores(net, calibration_faces())
    with_temperature(net, fit_temperature(scores, LABELS)).save(target)
    np.save(f"{target}.scores.npy", scores)


if __name__ == "__main__":
    train_and_calibrate(sys.argv[1], Path(sys.argv[2]))
