"""ImageNet bases loaded from local weight files the tests write themselves (no downloads)."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest

from ferflow.errors import FerflowError
from ferflow.models import CaffePreprocess, GreyToRGB, loss_for_head
from ferflow.models.zoo import create_model, set_training_phase

SIZE = 32  # the smallest input both applications accept; keeps ResNet50 quick on a CPU


def _write_weights(application: type, path: Path, *, seed: int) -> keras.Model:
    """Random 'ImageNet' weights for `application` saved at `path`; returns the source model."""
    keras.utils.set_random_seed(seed)
    reference = application(include_top=False, weights=None, input_shape=(SIZE, SIZE, 3))
    if path.name.endswith(".weights.h5"):
        reference.save_weights(path)
    else:  # legacy HDF5, the format of Keras' published *_notop.h5 files
        reference.save(path)
    return reference


@pytest.fixture(scope="module")
def vgg16_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, keras.Model]:
    path = tmp_path_factory.mktemp("weights") / "vgg16.weights.h5"
    return path, _write_weights(keras.applications.VGG16, path, seed=11)


def _batch(n: int = 4) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(n, 48, 48, 1)).astype("float32")
    return x, keras.utils.to_categorical(rng.integers(0, 7, size=n), 7)


def _same(a: keras.layers.Layer, b: keras.layers.Layer) -> bool:
    return all(np.array_equal(u, v) for u, v in zip(a.get_weights(), b.get_weights(), strict=True))


def test_vgg16_loads_the_file_and_fine_tunes_in_two_phases(
    vgg16_file: tuple[Path, keras.Model], tmp_path: Path
) -> None:
    path, reference = vgg16_file
    built = create_model(
        "vgg16", head="l2svm", weights=str(path), pretrained_input_size=SIZE, seed=99
    )
    base, model = built.pretrained_base, built.model
    assert base is not None and model.output_shape == (None, 7)
    assert _same(base.get_layer("block1_conv1"), reference.get_layer("block1_conv1"))
    assert _same(base.get_layer("block5_conv3"), reference.get_layer("block5_conv3"))
    assert built.phase2_trainable == ("block5_conv1", "block5_conv2", "block5_conv3")

    x, y = _batch()
    set_training_phase(built, 1)
    model.compile(optimizer="adam", loss=loss_for_head("l2svm"))
    head_before = model.get_layer("scores").get_weights()[0].copy()
    assert np.isfinite(model.train_on_batch(x, y))
    assert _same(base.get_layer("block5_conv3"), reference.get_layer("block5_conv3"))
    assert not np.array_equal(model.get_layer("scores").get_weights()[0], head_before)

    set_training_phase(built, 2)
    model.compile(optimizer="adam", loss=loss_for_head("l2svm"))
    assert np.isfinite(model.train_on_batch(x, y))
    assert not _same(base.get_layer("block5_conv3"), reference.get_layer("block5_conv3"))
    assert _same(base.get_layer("block4_conv3"), reference.get_layer("block4_conv3"))

    saved = tmp_path / "vgg16.keras"
    model.save(saved)
    loaded = keras.saving.load_model(saved)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(loaded(x)),
        keras.ops.convert_to_numpy(model(x)),
        rtol=1e-5,
        atol=1e-4,
    )


def test_vgg16_loads_a_legacy_h5_file(tmp_path: Path) -> None:
    path = tmp_path / "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
    reference = _write_weights(keras.applications.VGG16, path, seed=12)
    built = create_model("vgg16", weights=str(path), pretrained_input_size=SIZE, seed=98)
    assert _same(
        built.pretrained_base.get_layer("block3_conv2"), reference.get_layer("block3_conv2")
    )


def test_resnet50_loads_its_file_and_keeps_batch_norm_frozen(tmp_path: Path) -> None:
    path = tmp_path / "resnet50.weights.h5"
    reference = _write_weights(keras.applications.ResNet50, path, seed=13)
    built = create_model("resnet50", weights=str(path), pretrained_input_size=SIZE, seed=97)
    base = built.pretrained_base
    assert _same(base.get_layer("conv5_block3_3_conv"), reference.get_layer("conv5_block3_3_conv"))
    assert _same(base.get_layer("conv1_conv"), reference.get_layer("conv1_conv"))
    assert built.phase2_trainable
    assert all(n.startswith("conv5_") and n.endswith("_conv") for n in built.phase2_trainable)

    set_training_phase(built, 2)
    built.model.compile(optimizer="adam", loss=loss_for_head("softmax"), run_eagerly=True)
    assert np.isfinite(built.model.train_on_batch(*_batch()))
    assert not _same(
        base.get_layer("conv5_block3_3_conv"), reference.get_layer("conv5_block3_3_conv")
    )
    # The base runs in inference mode: batch-norm statistics keep their ImageNet values.
    assert _same(base.get_layer("conv5_block3_3_bn"), reference.get_layer("conv5_block3_3_bn"))
    assert _same(base.get_layer("conv4_block6_3_conv"), reference.get_layer("conv4_block6_3_conv"))


def test_a_missing_file_says_nothing_is_downloaded_and_where_to_put_it(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.h5"
    with pytest.raises(FerflowError, match="downloads nothing") as err:
        create_model("resnet50", weights=str(missing), pretrained_input_size=SIZE)
    assert str(missing) in str(err.value)
    assert "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5" in str(err.value)


def test_an_incompatible_file_is_a_ferflow_error(
    vgg16_file: tuple[Path, keras.Model], tmp_path: Path
) -> None:
    with pytest.raises(FerflowError, match="cannot load it as resnet50 ImageNet weights"):
        create_model("resnet50", weights=str(vgg16_file[0]), pretrained_input_size=SIZE)
    garbage = tmp_path / "vgg16.h5"
    garbage.write_text("not an HDF5 file")
    with pytest.raises(FerflowError, match="vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"):
        create_model("vgg16", weights=str(garbage), pretrained_input_size=SIZE)


def test_too_small_an_input_size_is_a_ferflow_error(vgg16_file: tuple[Path, keras.Model]) -> None:
    with pytest.raises(FerflowError, match="at least 32x32"):
        create_model("vgg16", weights=str(vgg16_file[0]), pretrained_input_size=16)


def test_preprocessing_matches_the_applications_own() -> None:
    rgb = np.random.default_rng(2).uniform(0, 255, (2, 5, 5, 3)).astype("float32")
    expected = keras.applications.vgg16.preprocess_input(rgb.copy())
    ours = keras.ops.convert_to_numpy(CaffePreprocess()(rgb))
    np.testing.assert_allclose(ours, expected, rtol=1e-6, atol=1e-4)
    grey = rgb[..., :1]
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(GreyToRGB()(grey)), np.repeat(grey, 3, axis=-1)
    )


def test_training_phases_leave_a_scratch_model_trainable() -> None:
    built = create_model("cpu_net", width=0.125)
    set_training_phase(built, 1)
    assert built.model.trainable and all(layer.trainable for layer in built.model.layers)
