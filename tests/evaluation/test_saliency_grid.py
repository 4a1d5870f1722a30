"""The saliency grid: which test faces it shows, and the picture evaluate writes with a real
model (the stage's own test checks it is logged into the run)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from ferflow.data.arrays import Split
from ferflow.evaluation.saliency import saliency_examples, write_saliency_png
from ferflow.models.inference import predict_probabilities
from ferflow.models.zoo import create_model


def probabilities_for(predicted: np.ndarray, confidence: np.ndarray) -> np.ndarray:
    probs = np.full((len(predicted), 7), 0.0)
    probs[np.arange(len(predicted)), predicted] = confidence
    return probs


def test_half_right_half_wrong_most_confident_first_class_by_class() -> None:
    y = np.array([0, 0, 0, 1, 1, 2, 2, 3, 4, 5])
    predicted = np.array([0, 0, 0, 1, 1, 2, 6, 6, 6, 6])
    confidence = np.array([0.5, 0.9, 0.8, 0.4, 0.7, 0.6, 0.9, 0.3, 0.8, 0.5])
    indices, correct = saliency_examples(y, probabilities_for(predicted, confidence), 6)

    # Right: class 0's best (1), class 1's (4), class 2's (5) before class 0's second (2).
    assert indices.tolist() == [1, 4, 5, 6, 8, 9]
    assert correct.tolist() == [True, True, True, False, False, False]


def test_a_kind_with_too_few_faces_leaves_its_places_to_the_other() -> None:
    y = np.arange(7)
    predicted = np.array([0, 1, 2, 3, 4, 5, 0])
    indices, correct = saliency_examples(y, probabilities_for(predicted, np.full(7, 0.5)), 6)
    assert indices.tolist() == [0, 1, 2, 3, 4, 6] and correct.sum() == 5
    none, _ = saliency_examples(y, probabilities_for(predicted, np.full(7, 0.5)), 0)
    assert none.size == 0


def test_the_grid_is_drawn_with_a_real_model(tmp_path: Path) -> None:
    model = create_model("cpu_net", width=0.125, seed=0).model
    rng = np.random.default_rng(0)
    split = Split(rng.integers(0, 256, (10, 48, 48, 1)).astype(np.float32), np.arange(10) % 7)
    probs = predict_probabilities(model, split.x)
    target = tmp_path / "saliency.png"

    assert write_saliency_png(target, model, split, probs, 6, "cpu_net: test") == 6
    with Image.open(target) as drawn:
        assert drawn.format == "PNG" and drawn.width > 6 * 100
