"""Mixed precision on a GPU (backend.configure_precision), tried on this CPU by making the
backend report one: bfloat16 where the GPU has it, trained without loss scaling; float16
elsewhere, with Keras' loss-scale optimizer; the augmentation and the scores stay float32."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from training_data import tiny_params

from ferflow import backend
from ferflow.models.zoo import available_models
from ferflow.training.loop import build_for_training, compile_phase
from ferflow.training.recipe import recipe_for


@pytest.fixture
def gpu(monkeypatch: pytest.MonkeyPatch):
    """The backend reports a GPU; `gpu(True)` one with bfloat16. The policy is reset after."""
    monkeypatch.setattr(backend, "device_kind", lambda: "gpu")

    def with_bfloat16(has: bool) -> None:
        monkeypatch.setattr(backend, "_gpus_have_bfloat16", lambda: has)

    yield with_bfloat16
    keras.mixed_precision.set_global_policy("float32")


@pytest.mark.parametrize(("bfloat16", "policy", "loss_scaled"), [
    (True, "mixed_bfloat16", False), (False, "mixed_float16", True)])
def test_a_gpu_trains_in_half_precision_with_float32_augmentation_and_scores(
        gpu, bfloat16: bool, policy: str, loss_scaled: bool) -> None:
    gpu(bfloat16)
    assert backend.configure_precision(False) == "float32"
    assert backend.configure_precision(True) == policy
    recipe = recipe_for(tiny_params(augment={"shift": 0.1, "rotation": 10, "erasing": 0.5}),
                        "cpu_net", available_models())
    built, wrapper = build_for_training(recipe)
    compile_phase(wrapper, built, recipe.train, 0.003, 1, 1)
    assert isinstance(wrapper.optimizer, keras.optimizers.LossScaleOptimizer) == loss_scaled
    augment = wrapper.get_layer("augment")
    assert [layer.name for layer in augment.layers] == ["affine", "erase"]
    assert all(layer.compute_dtype == "float32" for layer in augment.layers)
    assert built.model.get_layer("scores").compute_dtype == "float32"
    assert built.model.layers[2].compute_dtype == policy.split("_")[1]  # the first conv

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (8, 48, 48, 1)).astype("float32")
    y = keras.utils.to_categorical(np.arange(8) % 7, 7)
    loss, accuracy = wrapper.train_on_batch(x, y)
    assert np.isfinite(loss) and 0 <= accuracy <= 1
    assert keras.ops.convert_to_numpy(wrapper(x)).dtype == np.float32
