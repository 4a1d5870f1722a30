"""Head losses against hand-computed values, and scores → probabilities."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from ferflow.errors import FerflowError
from ferflow.models import SquaredHinge, loss_for_head, scores_to_probabilities


def test_squared_hinge_matches_a_hand_computed_case() -> None:
    y = np.array([[1, 0, 0], [0, 0, 1]], dtype="float32")
    s = np.array([[2.0, -0.5, 0.3], [0.0, 1.5, -0.2]], dtype="float32")
    # Row 1, targets (+1, -1, -1): max(0, 1 - t*s)^2 = (0, 0.5^2, 1.3^2) → mean 1.94 / 3.
    # Row 2, targets (-1, -1, +1): (1^2, 2.5^2, 1.2^2) = (1, 6.25, 1.44) → mean 8.69 / 3.
    expected = (1.94 / 3 + 8.69 / 3) / 2
    assert float(SquaredHinge()(y, s)) == pytest.approx(expected, rel=1e-6)


def test_squared_hinge_is_zero_beyond_the_margin() -> None:
    y = np.array([[0, 1, 0]], dtype="float32")
    assert float(SquaredHinge()(y, np.array([[-1.0, 3.0, -2.5]]))) == 0.0


def test_squared_hinge_agrees_with_keras_on_random_scores() -> None:
    rng = np.random.default_rng(1)
    y = keras.utils.to_categorical(rng.integers(0, 7, 32), 7)
    s = rng.normal(0, 2, (32, 7)).astype("float32")
    # Keras' own SquaredHinge maps 0/1 labels to -1/+1 the same way.
    reference = float(keras.losses.SquaredHinge()(y, s))
    assert float(SquaredHinge()(y, s)) == pytest.approx(reference, rel=1e-5)


def test_squared_hinge_round_trips_through_its_config() -> None:
    loss = keras.losses.deserialize(keras.losses.serialize(SquaredHinge()))
    assert isinstance(loss, SquaredHinge)


def test_softmax_loss_is_cross_entropy_on_logits_with_label_smoothing() -> None:
    y = np.array([[0, 0, 1, 0, 0, 0, 0]], dtype="float32")
    s = np.array([[0.5, -1.0, 2.0, 0.0, 0.3, -0.2, 1.0]], dtype="float32")
    log_p = s - np.log(np.exp(s).sum())
    smoothed = y * 0.9 + 0.1 / 7
    assert float(loss_for_head("softmax")(y, s)) == pytest.approx(-log_p[0, 2], rel=1e-5)
    expected = -(smoothed * log_p).sum()
    assert float(loss_for_head("softmax", 0.1)(y, s)) == pytest.approx(expected, rel=1e-5)


def test_l2svm_loss_ignores_label_smoothing() -> None:
    assert isinstance(loss_for_head("l2svm", label_smoothing=0.1), SquaredHinge)


def test_unknown_head_is_a_ferflow_error() -> None:
    with pytest.raises(FerflowError, match="unknown model head 'hinge'"):
        loss_for_head("hinge")


def test_scores_to_probabilities_is_a_row_softmax() -> None:
    s = np.array([[1.0, 2.0, 3.0, 0, 0, 0, -1], [10, 0, 0, 0, 0, 0, 0]], dtype="float32")
    p = scores_to_probabilities(s)
    e = np.exp(s - s.max(axis=1, keepdims=True))
    np.testing.assert_allclose(p, e / e.sum(axis=1, keepdims=True), rtol=1e-6)
    assert isinstance(p, np.ndarray) and p.shape == (2, 7)
    assert (p.argmax(axis=1) == s.argmax(axis=1)).all()
