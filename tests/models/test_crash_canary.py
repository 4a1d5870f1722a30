"""Crash canaries: a native crash while training must be a named failed test, never a hang.

Each backbone trains a few steps of the compiled training path (`ferflow benchmark train`:
augmentation layers, the net, the loss, the optimizer, as `fit` runs them) in a child process.
When the child dies from a signal, as it did when oneDNN's AVX-512 kernels crashed on a strided
1x1 convolution (docs/benchmarks.md), the test fails with the backbone's name and the signal
instead of taking a pytest worker down with it.

Every backbone runs under each tested Keras backend (tests/keras_backends.py), named in the
test's id and its failure: TensorFlow, the default, and JAX, with TensorFlow hidden.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from keras_backends import BACKENDS, backend_variables

from ferflow.models.zoo import available_models

NARROWEST = 0.0625
"""Every layer at or near the 8-channel floor: the narrow shapes where the crash lived."""

FERFLOW = str(Path(sys.executable).with_name("ferflow"))
"""The installed `ferflow` command, beside this interpreter (the venv's)."""

CHILD_TIMEOUT_S = 300
"""Starting either backend, building and compiling the largest backbone takes well under
this."""


def run_canary(label: str, argv: list[str], env: dict[str, str] | None = None) -> None:
    """Run `argv` (in `env`, default this process's) to completion; fail naming `label` and
    the signal if it dies, the exit code if it fails, or the time-out if it hangs."""
    try:
        child = subprocess.run(argv, capture_output=True, text=True, timeout=CHILD_TIMEOUT_S,
                               env=env)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{label}: no result after {CHILD_TIMEOUT_S} s: the child hung", False)
    tail = "\n".join((child.stdout + child.stderr).splitlines()[-15:])
    if child.returncode < 0:
        name = signal.Signals(-child.returncode).name
        pytest.fail(f"{label}: the training process died with {name} (a native crash in "
                    f"the backend); last lines:\n{tail}", False)
    if child.returncode != 0:
        pytest.fail(f"{label}: the training process exited with {child.returncode}; last "
                    f"lines:\n{tail}", False)


@pytest.mark.parametrize("backbone", available_models())
@pytest.mark.parametrize("keras_backend", BACKENDS)
def test_backbone_survives_compiled_training_at_the_narrowest_width(keras_backend: str,
                                                                   backbone: str) -> None:
    run_canary(f"{backbone} on {keras_backend} at width {NARROWEST}", [
        FERFLOW, "benchmark", "train", "--backbones", backbone,
        "--width", str(NARROWEST), "--batch-size", "8", "--steps", "2"],
        env={**os.environ, **backend_variables(keras_backend)})


@pytest.mark.parametrize(("code", "reported"), [
    ("import os; os.abort()", "died with SIGABRT"),
    ("import os, signal; os.kill(os.getpid(), signal.SIGSEGV)", "died with SIGSEGV"),
    ("raise SystemExit(3)", "exited with 3"),
])
def test_canary_reports_a_dead_child_by_name(code: str, reported: str) -> None:
    with pytest.raises(pytest.fail.Exception, match=f"^doomed child: .*{reported}"):
        run_canary("doomed child", [sys.executable, "-c", code])


def test_canary_passes_a_child_that_finishes() -> None:
    run_canary("healthy child", [sys.executable, "-c", "print('ok')"])
