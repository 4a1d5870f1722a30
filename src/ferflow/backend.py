"""The one place for backend-specific code: which device Keras trains on, and mixed precision.

Everything else talks to `keras` only; this module asks the active backend (TensorFlow, JAX or
PyTorch) about accelerators, importing that backend lazily so the others need not be installed.
"""

from __future__ import annotations

import importlib
import platform

import keras


def backend_name() -> str:
    """The Keras backend in use: tensorflow, jax, torch or numpy."""
    return keras.backend.backend()


def accelerators() -> list[str]:
    """Names of the GPUs the active backend sees (empty on a CPU-only host)."""
    name = backend_name()
    if name == "tensorflow":
        tf = importlib.import_module("tensorflow")
        return [d.name for d in tf.config.list_physical_devices("GPU")]
    if name == "jax":
        jax = importlib.import_module("jax")
        return [str(d) for d in jax.devices() if d.platform == "gpu"]
    if name == "torch":
        torch = importlib.import_module("torch")
        return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return []


def device_kind() -> str:
    """`gpu` when the backend has an accelerator, else `cpu`."""
    return "gpu" if accelerators() else "cpu"


def device_description() -> str:
    """A short human description for run tags, e.g. `gpu: /physical_device:GPU:0` or the CPU."""
    gpus = accelerators()
    if gpus:
        return f"gpu: {', '.join(gpus)}"
    return f"cpu: {platform.processor() or platform.machine()}"


def configure_precision(mixed: bool) -> str:
    """Set Keras' global dtype policy and return its name.

    Mixed float16 only on a GPU: there it doubles throughput on tensor cores, while on a CPU
    float16 math is emulated and slower. The heads keep their scores layer in float32.
    """
    policy = "mixed_float16" if mixed and device_kind() == "gpu" else "float32"
    keras.mixed_precision.set_global_policy(policy)
    return policy
