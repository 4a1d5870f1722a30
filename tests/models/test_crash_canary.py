"""Crash canaries: a native crash while training must be a named failed test, never a hang.

Every backbone trains a few steps of the compiled training path (`ferflow benchmark train`:
augmentation layers, the net, the loss, the optimizer, as `fit` runs them) in one child process
per tested Keras backend (tests/keras_backends.py: TensorFlow, the default, and JAX, with
TensorFlow hidden), named in the test's id. When the child dies from a signal, as it did when
oneDNN's AVX-512 kernels crashed on a strided 1x1 convolution (docs/benchmarks.md), the test
fails naming the backend, the backbone that was training (the benchmark announces each on
stderr) and the signal, instead of taking a pytest worker down with it. One child for all
backbones: starting a backend costs more than training a narrow backbone for two steps.
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

CHILD_TIMEOUT_S = 600
"""Starting either backend, building and compiling every backbone takes well under this."""

ANNOUNCED = "benchmark train: "
"""How `ferflow benchmark train` announces the backbone it starts, on stderr."""


def run_canary(label: str, argv: list[str], env: dict[str, str] | None = None) -> None:
    """Run `argv` (in `env`, default this process's) to completion; fail naming `label` (and
    the backbone it announced last) and the signal if it dies, the exit code if it fails, or
    the time-out if it hangs."""
    try:
        child = subprocess.run(argv, capture_output=True, text=True, timeout=CHILD_TIMEOUT_S,
                               env=env)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{label}{_while(exc.stderr)}: no result after {CHILD_TIMEOUT_S} s: the "
                    "child hung", False)
    tail = "\n".join((child.stdout + child.stderr).splitlines()[-15:])
    if child.returncode < 0:
        name = signal.Signals(-child.returncode).name
        pytest.fail(f"{label}{_while(child.stderr)}: the training process died with {name} "
                    f"(a native crash in the backend); last lines:\n{tail}", False)
    if child.returncode != 0:
        pytest.fail(f"{label}{_while(child.stderr)}: the training process exited with "
                    f"{child.returncode}; last lines:\n{tail}", False)


def _while(stderr: str | bytes | None) -> str:
    """", training <backbone>" for the last backbone `ferflow benchmark train` announced."""
    text = stderr.decode(errors="replace") if isinstance(stderr, bytes) else stderr or ""
    started = [line.split(": ", 1)[1] for line in text.splitlines()
               if line.startswith(ANNOUNCED)]
    return f", training {started[-1]}" if started else ""


@pytest.mark.parametrize("keras_backend", BACKENDS)
def test_every_backbone_survives_compiled_training_at_the_narrowest_width(
        keras_backend: str) -> None:
    run_canary(f"{keras_backend} at width {NARROWEST}", [
        FERFLOW, "benchmark", "train", "--backbones", ",".join(available_models()),
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


def test_canary_names_the_backbone_that_was_training_when_the_child_died() -> None:
    code = ("import os, sys; print('benchmark train: alexnet on 1 device', file=sys.stderr); "
            "print('benchmark train: vgg16 on 1 device', file=sys.stderr, flush=True); "
            "os.abort()")
    with pytest.raises(pytest.fail.Exception,
                       match="^doomed child, training vgg16 on 1 device: .*died with SIGABRT"):
        run_canary("doomed child", [sys.executable, "-c", code])
