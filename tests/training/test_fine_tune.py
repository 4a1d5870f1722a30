"""Two-phase fine-tuning from a local weights file: head first, then the base's last block."""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import pytest
from training_data import tiny_params, write_arrays

from ferflow.layout import Layout
from ferflow.tracking.mlflow_service import TrackingService
from ferflow.training.loop import train_backbone


def _base_of(model: keras.Model) -> keras.Model:
    return next(layer for layer in model.layers if isinstance(layer, keras.Model))


@pytest.mark.slow
def test_phase_one_freezes_the_base_and_phase_two_tunes_its_top_block(
        tmp_path: Path, sqlite_uri: str) -> None:
    original = keras.applications.VGG16(include_top=False, weights=None,
                                        input_shape=(32, 32, 3))
    weights = tmp_path / "vgg16_notop.weights.h5"
    original.save_weights(weights)
    params = tiny_params(
        epochs=3, learning_rate=0.001, fine_tune={"head_epochs": 2, "lr_factor": 0.1},
        models={"vgg16": {"weights": str(weights), "pretrained_input_size": 32}})
    write_arrays(tmp_path / "data" / "arrays")
    layout = Layout(tmp_path)
    metrics = train_backbone("vgg16", params, layout=layout,
                             tracker=TrackingService(sqlite_uri, "tests"))

    history = json.loads(layout.history("vgg16").read_text())
    assert history["phase"] == [1, 1, 2] and metrics["epochs_run"] == 3
    assert history["learning_rate"] == pytest.approx([1e-3, 1e-3, 1e-4], rel=1e-3)

    tuned = _base_of(keras.saving.load_model(layout.model_file("vgg16")))

    def kernel(model: keras.Model, layer: str) -> np.ndarray:
        return np.asarray(model.get_layer(layer).get_weights()[0])

    # The early blocks never train; the last block does (in phase 2 only, unless the best
    # epoch was in phase 1, in which case nothing in the base moved).
    np.testing.assert_array_equal(kernel(tuned, "block1_conv1"), kernel(original, "block1_conv1"))
    np.testing.assert_array_equal(kernel(tuned, "block4_conv3"), kernel(original, "block4_conv3"))
    block5_moved = not np.array_equal(kernel(tuned, "block5_conv3"),
                                      kernel(original, "block5_conv3"))
    assert block5_moved == (metrics["best_epoch"] == 3)
