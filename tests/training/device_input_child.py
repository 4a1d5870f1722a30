"""Child process of test_device_input.py (JAX backend, N forced CPU devices): trains the real
training wrapper (all augmentations → a narrow cpu_net, balanced class weights) for EPOCHS
epochs three ways, on the same batches in the same order, and prints one JSON line:

- `numpy`: Keras' own input path (numpy arrays, one epoch's order per `fit` call): the CPU path;
- `device`: `backend.DeviceBatches` on one device (the one-GPU path);
- `parallel`: the same under Keras' DataParallel over all devices (the several-GPU path).

For each: the running mean loss after every step, the epoch history, and the net's weights
as one vector (compared in the test).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1])]

import keras  # noqa: E402
import numpy as np  # noqa: E402
from training_data import tiny_params, write_arrays  # noqa: E402

from ferflow import EMOTIONS, backend  # noqa: E402
from ferflow.data.arrays import load_split  # noqa: E402
from ferflow.models.zoo import available_models  # noqa: E402
from ferflow.training.inputs import fit_inputs  # noqa: E402
from ferflow.training.loop import build_for_training, compile_phase  # noqa: E402
from ferflow.training.recipe import balanced_class_weights, recipe_for  # noqa: E402

EPOCHS = 2
ROWS = 32
"""Train: two batches of 16 (one compiled step); val: 14 faces, padded to 16 on 4 devices."""


class StepLosses(keras.callbacks.Callback):
    def __init__(self) -> None:
        super().__init__()
        self.losses: list[float] = []

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.losses.append(float(logs["loss"]))


def main(folder: str) -> None:
    arrays = write_arrays(Path(folder) / "arrays", rows=ROWS)
    train_set, val_set = load_split(arrays, "train"), load_split(arrays, "val")
    params = tiny_params(
        epochs=EPOCHS, batch_size=16, class_weights="balanced",
        models={"cpu_net": {"width": 0.125, "dropout": 0.1}},
        augment={"flip": True, "shift": 0.1, "rotation": 10, "zoom": 0.1, "erasing": 0.5})
    recipe = recipe_for(params, "cpu_net", available_models())
    batch = recipe.train.batch_size
    targets = keras.utils.to_categorical(train_set.y, len(EMOTIONS))
    val_targets = keras.utils.to_categorical(val_set.y, len(EMOTIONS))
    class_weight = balanced_class_weights(train_set.y, len(EMOTIONS))
    # The orders the device path draws, epoch by epoch, for the numpy path to follow.
    probe = fit_inputs(train_set, val_set, recipe.train).arguments["x"]
    orders = []
    for epoch in range(EPOCHS):
        probe.epoch = epoch
        probe[0]
        orders.append(np.asarray(probe._order))

    def train(path: str) -> dict:
        built, wrapper = build_for_training(recipe)
        steps = StepLosses()
        if path == "numpy":
            compile_phase(wrapper, built, recipe.train, recipe.train.learning_rate, EPOCHS,
                          len(probe))
            history: dict[str, list[float]] = {}
            for epoch, order in enumerate(orders):
                fitted = wrapper.fit(train_set.x[order], targets[order], batch_size=batch,
                                     epochs=epoch + 1, initial_epoch=epoch, shuffle=False,
                                     validation_data=(val_set.x, val_targets),
                                     class_weight=class_weight, callbacks=[steps], verbose=0)
                for key, values in fitted.history.items():
                    history.setdefault(key, []).extend(values)
        else:
            inputs = fit_inputs(train_set, val_set, recipe.train)
            compile_phase(wrapper, built, recipe.train, recipe.train.learning_rate, EPOCHS,
                          inputs.steps, inputs.accuracy)
            history = wrapper.fit(**inputs.arguments, epochs=EPOCHS,
                                  callbacks=[steps, *inputs.callbacks], verbose=0).history
        weights = np.concatenate([np.ravel(w) for w in built.model.get_weights()])
        return {"steps": steps.losses, "history": history, "weights": weights.tolist()}

    results = {"numpy": train("numpy"), "device": train("device")}
    devices = backend.use_all_devices()
    results["parallel"] = train("parallel")
    results["devices"] = devices
    print(json.dumps(results))


if __name__ == "__main__":
    main(sys.argv[1])
