"""Augmentation layers act in training only; the saved net never contains them."""

from __future__ import annotations

import keras
import numpy as np

from ferflow.config import AugmentParams
from ferflow.training.augment import (
    RandomAffine,
    RandomErasing,
    build_augmenter,
    training_model,
)

IMAGES = np.random.default_rng(0).uniform(0, 255, (8, 48, 48, 1)).astype("float32")
# Every augmentation on (configs/fer2013.yaml's strengths), and every one off.
ALL_ON = AugmentParams(flip=True, shift=0.1, rotation=10, zoom=0.1, erasing=0.25,
                       erasing_max_area=0.2)
ALWAYS_ERASE = ALL_ON.model_copy(update={"erasing": 1.0})
ALL_OFF = ALL_ON.model_copy(update={"flip": False, "shift": 0, "rotation": 0, "zoom": 0,
                                    "erasing": 0})


def test_augmenter_changes_images_in_training_only() -> None:
    augmenter = build_augmenter(ALL_ON, seed=1)
    assert [layer.name for layer in augmenter.layers] == ["affine", "erase"]
    trained = np.asarray(augmenter(IMAGES, training=True))
    assert trained.shape == IMAGES.shape and not np.allclose(trained, IMAGES)
    np.testing.assert_array_equal(np.asarray(augmenter(IMAGES, training=False)), IMAGES)


def test_each_augmentation_layer_draws_its_own_random_numbers() -> None:
    augmenter = build_augmenter(ALWAYS_ERASE, seed=3)
    draws = [np.asarray(keras.random.uniform((16,), seed=layer.seed_generator))
             for layer in augmenter.layers]
    assert abs(np.corrcoef(draws[0], draws[1])[0, 1]) < 0.9


def test_all_off_is_identity() -> None:
    assert build_augmenter(ALL_OFF).layers == []


def test_affine_flip_mirrors_some_faces_and_keeps_the_others() -> None:
    warped = np.asarray(RandomAffine(flip=True, rotation=0, zoom=0, shift=0, seed=1)(
        IMAGES, training=True))
    mirrored = [np.allclose(w, x[:, ::-1], atol=1e-3) for w, x in zip(warped, IMAGES, strict=True)]
    kept = [np.allclose(w, x, atol=1e-3) for w, x in zip(warped, IMAGES, strict=True)]
    assert all(m != k for m, k in zip(mirrored, kept, strict=True)) and any(mirrored) and any(kept)


def test_affine_rotation_turns_a_bar_by_at_most_the_configured_angle() -> None:
    bar = np.zeros((16, 48, 48, 1), "float32")
    bar[:, 22:26, 4:44] = 255.0  # a horizontal bar through the centre
    turned = np.asarray(RandomAffine(flip=False, rotation=30, zoom=0, shift=0, seed=2)(
        bar, training=True))[..., 0]
    angles = []
    for image in turned:
        rows, cols = np.nonzero(image > 128)
        slope = np.polyfit(cols - 23.5, rows - 23.5, 1)[0]
        angles.append(abs(np.degrees(np.arctan(slope))))
        # Rotation about the centre keeps the bar centred.
        assert abs(rows.mean() - 23.5) < 1.0 and abs(cols.mean() - 23.5) < 1.0
    assert max(angles) <= 31 and max(angles) > 5


def test_affine_shift_and_zoom_stay_within_their_ranges() -> None:
    dot = np.zeros((16, 48, 48, 1), "float32")
    dot[:, 23:25, 23:25] = 255.0  # a 2x2 dot at the centre
    moved = np.asarray(RandomAffine(flip=False, rotation=0, zoom=0, shift=0.1, seed=4)(
        dot, training=True))[..., 0]
    offsets = [np.abs(np.argwhere(m > 64).mean(axis=0) - 23.5) for m in moved]
    assert max(o.max() for o in offsets) <= 0.1 * 48 + 0.5 and max(o.max() for o in offsets) > 1
    square = np.zeros((16, 48, 48, 1), "float32")
    square[:, 14:34, 14:34] = 255.0  # 20x20 at the centre
    zoomed = np.asarray(RandomAffine(flip=False, rotation=0, zoom=0.2, shift=0, seed=5)(
        square, training=True))[..., 0]
    sides = [np.sqrt((z > 128).sum()) for z in zoomed]
    assert min(sides) >= 20 / 1.2 - 1 and max(sides) <= 20 / 0.8 + 1
    assert max(sides) - min(sides) > 2
    assert RandomAffine.from_config(RandomAffine(zoom=0.3).get_config()).zoom == 0.3


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
    wrapper = training_model(net, build_augmenter(ALWAYS_ERASE, seed=0))
    np.testing.assert_allclose(wrapper.predict(IMAGES, verbose=0),
                               net.predict(IMAGES, verbose=0), rtol=1e-6)
    assert not np.allclose(np.asarray(wrapper(IMAGES, training=True)),
                           np.asarray(net(IMAGES, training=True)))
