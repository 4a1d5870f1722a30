"""Augmentation layers act in training only; the saved net never contains them."""

from __future__ import annotations

import keras
import numpy as np

from ferflow.config import AugmentParams
from ferflow.training.augment import RandomErasing, build_augmenter, training_model

IMAGES = np.random.default_rng(0).uniform(0, 255, (8, 48, 48, 1)).astype("float32")


def test_augmenter_changes_images_in_training_only() -> None:
    augmenter = build_augmenter(AugmentParams(), seed=1)
    assert [layer.name for layer in augmenter.layers] == ["flip", "rotate", "zoom", "shift",
                                                          "erase"]
    trained = np.asarray(augmenter(IMAGES, training=True))
    assert trained.shape == IMAGES.shape and not np.allclose(trained, IMAGES)
    np.testing.assert_array_equal(np.asarray(augmenter(IMAGES, training=False)), IMAGES)


def test_all_off_is_identity() -> None:
    off = AugmentParams(flip=False, shift=0, rotation=0, zoom=0, erasing=0)
    assert build_augmenter(off).layers == []


def test_random_erasing_fills_one_rectangle_per_chosen_image() -> None:
    erased = np.asarray(RandomErasing(rate=1.0, max_area=0.2, seed=3)(IMAGES, training=True))
    changed = erased != IMAGES
    for mask in changed[..., 0]:
        rows, cols = np.nonzero(mask)
        assert 0 < mask.sum() <= 0.2 * 48 * 48 + 96
        # Everything changed lies in one axis-aligned box that is almost entirely changed.
        box = mask[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
        assert box.mean() > 0.95
    assert erased.min() >= 0 and erased.max() <= 255
    kept = np.asarray(RandomErasing(rate=0.0, seed=3)(IMAGES, training=True))
    np.testing.assert_array_equal(kept, IMAGES)
    config = RandomErasing(rate=0.3, max_area=0.1, seed=5).get_config()
    assert RandomErasing.from_config(config).max_area == 0.1


def test_training_wrapper_shares_the_net_and_is_identity_at_inference() -> None:
    inputs = keras.Input((48, 48, 1))
    net = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(inputs), name="net")
    wrapper = training_model(net, build_augmenter(AugmentParams(erasing=1.0), seed=0))
    np.testing.assert_allclose(wrapper.predict(IMAGES, verbose=0),
                               net.predict(IMAGES, verbose=0), rtol=1e-6)
    assert not np.allclose(np.asarray(wrapper(IMAGES, training=True)),
                           np.asarray(net(IMAGES, training=True)))
