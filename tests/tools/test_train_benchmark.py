"""`ferflow benchmark train`: images/s per backbone for each device count, and the share of
step time spent waiting for input, measured through the trainer's own input path.

The device counts run on the JAX backend with 4 forced CPU devices in a child process (XLA's
device count is fixed when jax is first imported), as on a host with 4 accelerators. A single
device on either backend runs in every crash canary (tests/models/test_crash_canary.py).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from keras_backends import backend_variables

FERFLOW = str(Path(sys.executable).with_name("ferflow"))
FOUR_DEVICES = {"XLA_FLAGS": "--xla_force_host_platform_device_count=4"}
TINY = ["--backbones", "shallow_cnn", "--width", "0.0625", "--batch-size", "4", "--steps", "2"]


def _benchmark(keras_backend: str, *options: str, extra: dict[str, str] | None = None
               ) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **backend_variables(keras_backend), **(extra or {})}
    return subprocess.run([FERFLOW, "benchmark", "train", *TINY, *options], env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_every_device_count_is_measured_data_parallel_on_jax() -> None:
    child = _benchmark("jax", "--json", extra=FOUR_DEVICES)
    assert child.returncode == 0, child.stderr[-2000:]
    report, _, records = child.stdout.partition("\n[")
    rows = json.loads("[" + records)
    # Default counts: 1, then powers of two up to the 4 local devices.
    assert [(r["devices"], r["batch_size"]) for r in rows] == [(1, 4), (2, 8), (4, 16)]
    for row in rows:
        assert row["backbone"] == "shallow_cnn" and row["params"] > 0
        assert row["images_per_s"] > 0 and 0 <= row["input_wait_share"] < 1
        assert row["input_path"] == "device"  # several devices: the data lives on them
    assert "(4 devices, 1 process)" in report and "jax backend" in report
    assert "input wait" in report and "1.00x" in report


@pytest.mark.slow
def test_a_precision_is_timed_where_the_recipe_would_not_choose_it() -> None:
    # On a CPU the recipe keeps float32; bfloat16 compute is one of the CPU levers to time.
    child = _benchmark("tensorflow", "--precision", "mixed_bfloat16", "--json")
    assert child.returncode == 0, child.stderr[-2000:]
    report, _, records = child.stdout.partition("\n[")
    (row,) = json.loads("[" + records)
    assert row["precision"] == "mixed_bfloat16" and row["images_per_s"] > 0
    assert "tensorflow backend, mixed_bfloat16" in report
    assert row["input_wait_share"] is None  # tf.data fetches inside the compiled step


@pytest.mark.slow
@pytest.mark.parametrize(("keras_backend", "devices", "extra", "message"), [
    ("jax", "1,8", FOUR_DEVICES, "8 devices asked for, and this process has 4 .*"
                                 "--xla_force_host_platform_device_count=8"),
    ("tensorflow", "2", {}, "training on 2 devices needs the JAX backend.*KERAS_BACKEND=jax"),
    ("tensorflow", "1,two", {}, "--devices '1,two': give comma-separated whole numbers"),
])
def test_a_device_count_this_host_cannot_train_on_is_refused_before_any_timing(
        keras_backend: str, devices: str, extra: dict[str, str], message: str) -> None:
    child = _benchmark(keras_backend, "--devices", devices, extra=extra)
    assert child.returncode == 2  # a user mistake (FerflowError)
    assert "training throughput" not in child.stdout  # nothing measured first
    (line,) = [ln for ln in child.stderr.splitlines() if ln.startswith("ferflow: error:")]
    assert re.search(message, line), line
