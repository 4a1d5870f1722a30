"""The accelerator input path (`backend.DeviceBatches`) and data-parallel training over several
devices (Keras' DataParallel on JAX) train on the same numbers as Keras' numpy input path.

One child process on the JAX backend with 4 forced CPU devices (the backend and XLA's flags are
fixed when keras and jax are first imported) trains the same recipe three ways on the same
batches: device_input_child.py. Measured there (2 epochs, 4 steps, all augmentations, balanced
class weights): the numpy path and DeviceBatches on one device agree exactly, every step's loss,
every epoch metric and every weight bit for bit (the same compiled step on the same inputs);
4 devices against one agree to 1.8e-7 relative in every loss, exactly in the accuracies, and
to 2.7e-6 in the weights (|w| up to 3.6; the gradient sums run in another order). The
tolerances below leave a factor of over 30 on that.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from keras_backends import backend_variables

CHILD = Path(__file__).resolve().with_name("device_input_child.py")
DEVICES = 4
LOSS_RTOL = 1e-5
"""Relative tolerance of losses and metrics, 4 devices against one."""
WEIGHT_ATOL = 1e-4
"""Absolute tolerance of every weight after 4 steps, 4 devices against one."""


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict:
    env = {**os.environ, **backend_variables("jax"),
           "XLA_FLAGS": f"--xla_force_host_platform_device_count={DEVICES}"}
    child = subprocess.run([sys.executable, str(CHILD), str(tmp_path_factory.mktemp("input"))],
                           env=env, capture_output=True, text=True, timeout=600)
    assert child.returncode == 0, child.stdout[-3000:] + child.stderr[-5000:]
    return json.loads(child.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_device_batches_train_exactly_like_numpy_arrays(trained: dict) -> None:
    numpy_path, device = trained["numpy"], trained["device"]
    assert len(numpy_path["steps"]) == len(device["steps"]) == 4
    assert device["steps"] == numpy_path["steps"]
    assert device["history"] == numpy_path["history"]
    assert device["weights"] == numpy_path["weights"]


@pytest.mark.slow
def test_data_parallel_over_four_devices_matches_one_device(trained: dict) -> None:
    one, four = trained["device"], trained["parallel"]
    assert trained["devices"] == DEVICES
    np.testing.assert_allclose(four["steps"], one["steps"], rtol=LOSS_RTOL)
    assert four["history"].keys() == one["history"].keys()
    for key, values in one["history"].items():
        # val_accuracy included: the validation split (14 faces) is padded to 16 on 4
        # devices, and the padding must count for nothing.
        np.testing.assert_allclose(four["history"][key], values, rtol=LOSS_RTOL, err_msg=key)
    np.testing.assert_allclose(four["weights"], one["weights"], atol=WEIGHT_ATOL)
    assert four["weights"] != one["weights"]  # really another computation
