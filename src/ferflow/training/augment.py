"""Training-time augmentation as Keras layers, and the training wrapper `augment → net`.

Keras' random preprocessing layers and `RandomErasing` only act when called with
training=True, so the wrapper augments in `fit` and passes images through unchanged in
`evaluate`/`predict`. Only the inner net is saved and logged: served models never augment.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from ferflow import IMAGE_SIZE
from ferflow.config import AugmentParams


@keras.saving.register_keras_serializable(package="ferflow")
class RandomErasing(keras.layers.Layer):
    """With probability `rate`, fill one random rectangle of each image with uniform noise
    (Zhong et al. 2017, "Random Erasing Data Augmentation"). The rectangle covers 2% to
    `max_area` of the image with an aspect ratio between 1/3 and 3. Pixel range 0..`value_max`.
    """

    def __init__(self, rate: float = 0.25, max_area: float = 0.2, value_max: float = 255.0,
                 seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rate, self.max_area, self.value_max, self.seed = rate, max_area, value_max, seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, images: Any, training: bool | None = None) -> Any:
        if not training or self.rate <= 0:
            return images
        shape = ops.shape(images)
        batch, height, width = shape[0], shape[1], shape[2]
        h, w = ops.cast(height, "float32"), ops.cast(width, "float32")

        def draw(low: float, high: float) -> Any:
            return keras.random.uniform((batch, 1, 1), low, high, seed=self.seed_generator)

        area = draw(0.02, self.max_area) * h * w
        log_ratio = draw(-1.0986123, 1.0986123)  # ln(1/3) .. ln(3)
        ratio = ops.exp(log_ratio)
        eh = ops.minimum(ops.sqrt(area * ratio), h)
        ew = ops.minimum(ops.sqrt(area / ratio), w)
        top = draw(0.0, 1.0) * (h - eh)
        left = draw(0.0, 1.0) * (w - ew)
        rows = ops.reshape(ops.arange(height, dtype="float32"), (1, -1, 1))
        cols = ops.reshape(ops.arange(width, dtype="float32"), (1, 1, -1))
        inside = ((rows >= top) & (rows < top + eh)) & ((cols >= left) & (cols < left + ew))
        chosen = draw(0.0, 1.0) < self.rate
        mask = ops.expand_dims(ops.cast(inside & chosen, images.dtype), -1)
        noise = keras.random.uniform(
            ops.shape(images), 0.0, self.value_max, dtype=images.dtype, seed=self.seed_generator)
        return images * (1 - mask) + noise * mask

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "rate": self.rate, "max_area": self.max_area,
                "value_max": self.value_max, "seed": self.seed}


def build_augmenter(params: AugmentParams, seed: int | None = None) -> keras.Sequential:
    """The augmentation pipeline for (N, 48, 48, 1) raw 0..255 images; an empty Sequential
    (identity) when every augmentation is off."""
    layers: list[keras.layers.Layer] = []
    if params.flip:
        # Horizontal only: a mirrored face keeps its expression, an upside-down one is unnatural.
        layers.append(keras.layers.RandomFlip("horizontal", seed=seed, name="flip"))
    if params.rotation > 0:
        layers.append(keras.layers.RandomRotation(
            params.rotation / 360.0, fill_mode="reflect", seed=seed, name="rotate"))
    if params.zoom > 0:
        layers.append(keras.layers.RandomZoom(
            params.zoom, fill_mode="reflect", seed=seed, name="zoom"))
    if params.shift > 0:
        # A random shift with reflected borders is a random crop that keeps the 48x48 size.
        layers.append(keras.layers.RandomTranslation(
            params.shift, params.shift, fill_mode="reflect", seed=seed, name="shift"))
    if params.erasing > 0:
        layers.append(RandomErasing(params.erasing, params.erasing_max_area, seed=seed,
                                    name="erase"))
    return keras.Sequential(layers, name="augment")


def training_model(net: keras.Model, augmenter: keras.Sequential) -> keras.Model:
    """`augment → net` for `fit`; shares the net's weights, so training it trains the net."""
    inputs = keras.Input((IMAGE_SIZE, IMAGE_SIZE, 1), dtype="float32", name="pixels")
    x = augmenter(inputs) if augmenter.layers else inputs
    return keras.Model(inputs, net(x), name=f"{net.name}_training")
