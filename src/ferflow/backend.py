"""The one place for backend-specific code: which device Keras trains on, mixed precision, and
on JAX the data kept on the devices, data-parallel training and multi-host processes.

Everything else talks to `keras` only; this module asks the active backend (TensorFlow, JAX or
PyTorch) about accelerators, importing that backend lazily so the others need not be installed.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import importlib
import os
import platform
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

from ferflow.errors import FerflowError


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
    """A short human description for run tags, e.g. `gpu: /physical_device:GPU:0` or the CPU,
    with the device and process count when JAX trains on more than one device."""
    gpus = accelerators()
    cpu = platform.processor() or platform.machine()
    where = f"gpu: {', '.join(gpus)}" if gpus else f"cpu: {cpu}"
    if backend_name() == "jax":
        jax = importlib.import_module("jax")
        if jax.device_count() > 1:
            processes = jax.process_count()
            where += (f" ({jax.device_count()} devices, {processes} "
                      f"process{'es' if processes > 1 else ''})")
    return where


def configure_precision(mixed: bool) -> str:
    """Set Keras' global dtype policy and return its name.

    Mixed precision only on a GPU: there it doubles throughput on tensor cores, while on a CPU
    half-precision math is emulated and slower. On JAX, bfloat16 where the GPU has it (compute
    capability 8.0 and up: A100, H100, H200...), which keeps float32's range and so needs no
    loss scaling; else float16, which Keras trains with a loss-scale optimizer. TensorFlow
    keeps float16 on every GPU. The heads keep their scores layer in float32, the
    augmentation layers compute in float32.
    """
    policy = "float32"
    if mixed and device_kind() == "gpu":
        policy = "mixed_bfloat16" if _gpus_have_bfloat16() else "mixed_float16"
    keras.mixed_precision.set_global_policy(policy)
    return policy


def set_precision(policy: str) -> str:
    """Set Keras' global dtype policy to `policy` (float32, mixed_bfloat16, mixed_float16),
    whatever the device: for measuring a precision where `configure_precision` would not
    choose it. FerflowError naming the choices for another name."""
    choices = ("float32", "mixed_bfloat16", "mixed_float16")
    if policy not in choices:
        raise FerflowError(f"precision {policy!r}: choose one of {', '.join(choices)}")
    keras.mixed_precision.set_global_policy(policy)
    return policy


def _gpus_have_bfloat16() -> bool:
    if backend_name() != "jax":
        return False
    jax = importlib.import_module("jax")
    gpus = [d for d in jax.devices() if d.platform == "gpu"]

    def capability(device: Any) -> float:
        try:
            return float(getattr(device, "compute_capability", "0"))
        except ValueError:
            return 0.0

    return bool(gpus) and all(capability(d) >= 8.0 for d in gpus)


# --- Training on the devices' own memory, over every device of every process (JAX) ----------
#
# Keras' JAX trainer gets numpy arrays as numpy slices, one host-to-device copy per batch. On an
# accelerator the train split instead goes to the devices once (`DeviceBatches`): each epoch's
# shuffle is a permutation drawn on the device, each batch a gather compiled by XLA, and the
# augmentation already runs inside Keras' compiled train step (training/augment.py). With more
# than one device, Keras' DataParallel distribution splits every batch over all of them; with
# more than one process (one per host), jax.distributed joins them first.

COORDINATOR = "FERFLOW_COORDINATOR"
NUM_PROCESSES = "FERFLOW_NUM_PROCESSES"
PROCESS_ID = "FERFLOW_PROCESS_ID"
INIT_TIMEOUT = "FERFLOW_INIT_TIMEOUT_S"
HEARTBEAT_TIMEOUT = "FERFLOW_HEARTBEAT_TIMEOUT_S"
DEFAULT_INIT_TIMEOUT_S = 300
"""How long each process waits for all of them to join (a host booting, a slow `dvc pull`)."""
DEFAULT_HEARTBEAT_TIMEOUT_S = 60
"""How long a process may stop answering before the others count it as lost."""
SHUTDOWN_TIMEOUT_S = 3600
"""How long a finished process waits at JAX's exit barrier for the others (process 0 may still
be logging its model to a remote tracking server)."""
JAX_BACKSTOP_S = 30
"""JAX's own heartbeat and initialisation timeouts are this much longer than ours: a backstop
that aborts the process with JAX's message if ours could not act (see `_Watch`)."""


@dataclass(frozen=True)
class Processes:
    """This process's place in the training: process `index` of `count` (one per host)."""

    index: int = 0
    count: int = 1

    @property
    def primary(self) -> bool:
        """Process 0: the one that logs to the tracking store and writes the stage outputs."""
        return self.index == 0


class LostProcess(FerflowError):
    """A process of a multi-host training died or stopped answering: the training fails."""

    exit_code = 1


_processes: Processes | None = None
_watch: _Watch | None = None
_lost = False
"""A collective failed for a lost process (`failing_on_lost_process`): exit without JAX's
shutdown barrier."""


def join_processes() -> Processes:
    """Join the other processes of a multi-host training (JAX only), once per process.

    Without FERFLOW_COORDINATOR (host:port of process 0), FERFLOW_NUM_PROCESSES and
    FERFLOW_PROCESS_ID (0 .. count-1) this is a single process. Two timeouts keep a lost
    process from hanging the others:

    - joining: each process waits up to FERFLOW_INIT_TIMEOUT_S (300) for all of them, then
      stops with an error that says how to start the others;
    - training: every process beats once a second in the coordinator's key-value store, and
      one whose peer has not beaten for FERFLOW_HEARTBEAT_TIMEOUT_S (60) stops with
      `LostProcess`'s error, whatever collective it waits in (a killed process, a host that
      is down or cut off, a process stopped with SIGSTOP). A collective that sees its peer's
      connection reset (gloo on CPUs) fails at once and says the same
      (`failing_on_lost_process`).

    Must run before anything asks JAX for its devices.
    """
    global _processes
    if _processes is None:
        _processes = _join(_process_settings())
    return _processes


def _process_settings() -> tuple[str, int, int] | None:
    names = (COORDINATOR, NUM_PROCESSES, PROCESS_ID)
    values = {name: os.environ.get(name, "").strip() for name in names}
    given = [name for name in names if values[name]]
    if not given:
        return None
    if len(given) < len(names):
        missing = ", ".join(name for name in names if name not in given)
        raise FerflowError(f"{', '.join(given)} set but {missing} not: a multi-host training "
                           f"needs all of {', '.join(names)} in every process")
    count = _int_setting(NUM_PROCESSES, values[NUM_PROCESSES], 1)
    index = _int_setting(PROCESS_ID, values[PROCESS_ID], 0)
    if index >= count:
        raise FerflowError(f"{PROCESS_ID}={index} is not below {NUM_PROCESSES}={count}: number "
                           f"the processes 0 to {count - 1}")
    if ":" not in values[COORDINATOR]:
        raise FerflowError(f"{COORDINATOR}={values[COORDINATOR]!r} is not host:port (process "
                           "0's address and a free port, the same in every process)")
    return values[COORDINATOR], count, index


def _int_setting(name: str, text: str, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise FerflowError(f"{name}={text!r}: expected a whole number of at least {minimum}")
    return value


def _seconds(name: str, default: int) -> int:
    return _int_setting(name, os.environ.get(name, "").strip() or str(default), 1)


def _join(settings: tuple[str, int, int] | None) -> Processes:
    global _watch
    if settings is None or settings[1] == 1:
        return Processes()
    coordinator, count, index = settings
    if backend_name() != "jax":
        raise FerflowError(f"{NUM_PROCESSES}={count} needs the JAX backend: run every process "
                           "with KERAS_BACKEND=jax")
    init_s = _seconds(INIT_TIMEOUT, DEFAULT_INIT_TIMEOUT_S)
    heartbeat_s = _seconds(HEARTBEAT_TIMEOUT, DEFAULT_HEARTBEAT_TIMEOUT_S)
    jax = importlib.import_module("jax")
    # The main thread waits inside JAX's C++ call: only ending the process from another
    # thread can stop it, with a message that says what is missing (JAX's own time-out,
    # later, aborts with a bare DEADLINE_EXCEEDED).
    timer = threading.Timer(init_s, _exit_lost, args=(
        f"process {index} of {count}: not every process joined the coordinator "
        f"{coordinator} within {init_s} s ({INIT_TIMEOUT}); start all {count} with the same "
        f"{COORDINATOR} and {NUM_PROCESSES} and each with its own {PROCESS_ID} (0 to "
        f"{count - 1})",))
    timer.daemon = True
    timer.start()
    try:
        # Shutdown: the others wait at JAX's exit barrier while process 0 still writes and
        # logs the model, which may take minutes against a remote tracking server.
        jax.distributed.initialize(coordinator, count, index,
                                   initialization_timeout=init_s + JAX_BACKSTOP_S,
                                   heartbeat_timeout_seconds=heartbeat_s + JAX_BACKSTOP_S,
                                   shutdown_timeout_seconds=SHUTDOWN_TIMEOUT_S)
    finally:
        timer.cancel()
    client = importlib.import_module("jax._src.distributed").global_state.client
    _watch = _Watch(client, index, count, heartbeat_s)
    # atexit runs the last registered first: this before JAX's shutdown barrier, which would
    # wait for a lost process (and then abort this one).
    atexit.register(_at_exit)
    return Processes(index, count)


def _at_exit() -> None:
    if _watch is not None:
        _watch.stop()
    if _lost:
        _exit_at_once()


_on_lost: list[Callable[[], None]] = []
"""What to do before a lost process ends this one (end the tracked run FAILED)."""


def _exit_lost(message: str) -> None:
    """Say why, run the `_on_lost` hooks (a few seconds at most), and end this process at
    once, skipping JAX's shutdown barrier, which would wait for the lost process."""
    print(f"ferflow: error: {message}", file=sys.stderr, flush=True)
    for hook in list(_on_lost):
        worker = threading.Thread(target=hook, daemon=True)
        worker.start()
        worker.join(10)
    _exit_at_once()


def _exit_at_once() -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(LostProcess.exit_code)


class _Watch:
    """Beats for this process and watches the others' beats in the coordination service's
    key-value store. Daemon threads: the main thread may be stuck in a collective that waits
    for a lost process (NCCL never gives up), which only they can end. One talks to the
    service (and may itself wait on a coordinator that stopped answering), the other only
    looks at the clock."""

    def __init__(self, client: Any, index: int, count: int, timeout_s: int) -> None:
        self.client, self.index, self.count, self.timeout_s = client, index, count, timeout_s
        self.period = min(1.0, timeout_s / 10)
        self.stopped, self.done = threading.Event(), False
        now = time.monotonic()
        self.answered = now
        """When the coordination service last answered this process."""
        self.heard = {peer: now for peer in range(count) if peer != index}
        """When each unfinished peer's beat last changed."""
        for target in (self._talk, self._judge):
            threading.Thread(target=target, name="ferflow-peer-watch", daemon=True).start()

    def finish(self) -> None:
        """This process did its part: the others need not wait for its beats any more."""
        self.done = True
        self.client.key_value_set(f"ferflow/done/{self.index}", "1", allow_overwrite=True)

    def stop(self) -> None:
        """No more beats: the process exits."""
        self.stopped.set()

    def _talk(self) -> None:
        beat, last = 0, dict.fromkeys(self.heard)
        while not self.stopped.wait(self.period) and not self.done:
            try:
                beat += 1
                self.client.key_value_set(f"ferflow/beat/{self.index}", str(beat),
                                          allow_overwrite=True)
                for peer in list(self.heard):
                    if self._get(f"ferflow/done/{peer}"):
                        self.heard.pop(peer, None)
                        continue
                    value = self._get(f"ferflow/beat/{peer}")
                    if value != last[peer]:
                        last[peer], self.heard[peer] = value, time.monotonic()
                self.answered = time.monotonic()
            except Exception as exc:  # the coordinator (process 0) is gone
                if not (self.done or self.stopped.is_set()):
                    _exit_lost(f"process {self.index} of {self.count}: the coordinator "
                               f"(process 0) is gone ({str(exc).strip().splitlines()[0][:200]})"
                               ", so the training stops. See its log, then start all "
                               "processes again")
                return

    def _judge(self) -> None:
        while not self.stopped.wait(self.period) and not self.done:
            now = time.monotonic()
            silent = [peer for peer, heard in list(self.heard.items())
                      if now - heard > self.timeout_s]
            if now - self.answered > self.timeout_s:
                silent = [0] if self.index else silent
            if silent and not self.done:
                _exit_lost(f"process {self.index} of {self.count}: process {silent[0]} stopped "
                           f"answering {self.timeout_s} s ago ({HEARTBEAT_TIMEOUT}): it died, "
                           "hangs, or its host is down or cut off, so the training stops. See "
                           "its log, then start all processes again")

    def _get(self, key: str) -> str | None:
        try:
            return str(self.client.key_value_try_get(key))
        except Exception as exc:
            if "NOT_FOUND" in str(exc) or "not found" in str(exc).lower():
                return None
            raise


def finish_processes() -> None:
    """Tell the other processes that this one did its part of the training, so that its exit
    is not taken for a lost process (a no-op in a single process)."""
    if _watch is not None:
        _watch.finish()


COLLECTIVE_FAILURES = ("gloo", "nccl", "connection reset", "connection closed", "socket closed",
                       "heartbeat", "unavailable:", "deadline_exceeded", "unhealthy")
"""Words of the runtime's message when a collective lost a peer (gloo on CPUs, NCCL on GPUs)."""


@contextlib.contextmanager
def failing_on_lost_process(on_lost: Callable[[], None] | None = None) -> Iterator[None]:
    """Around the part of a multi-host training where the processes work in lock-step.

    A failed collective there (a peer died, so its connection was reset) becomes
    `LostProcess`, whose message names this process and what to do. `on_lost` runs when the
    peer watch (`join_processes`) ends this process instead, which happens while the main
    thread waits in a collective that never fails. Either way the process then exits without
    JAX's shutdown barrier, which would wait for the lost process. A single process is left
    as it is."""
    global _lost
    processes = _processes or Processes()
    if on_lost is not None:
        _on_lost.append(on_lost)
    try:
        yield
    except Exception as exc:
        text = str(exc)
        if processes.count == 1 or not any(w in text.lower() for w in COLLECTIVE_FAILURES):
            raise
        _lost = True
        first = text.strip().splitlines()[0][:300] if text.strip() else type(exc).__name__
        raise LostProcess(
            f"process {processes.index} of {processes.count}: another process of this "
            f"multi-host training is lost (a collective failed: {first}); the training stops. "
            "See the other processes' logs, then start all of them again") from None
    finally:
        if on_lost is not None:
            _on_lost.remove(on_lost)


def same_on_every_process(value: float) -> float:
    """Process 0's `value` on every process of a multi-host training (`value` itself in a
    single process): for decisions that all processes must take alike."""
    if (_processes or Processes()).count == 1:
        return value
    utils = importlib.import_module("jax.experimental.multihost_utils")
    return float(utils.broadcast_one_to_all(np.float64(value)))


def input_on_device() -> bool:
    """Whether training keeps its data on the devices (`DeviceBatches`): on the JAX backend
    with an accelerator, or with more than one device or process. A single CPU device and
    TensorFlow keep Keras' numpy input path, the one the CPU recipe was measured with."""
    if backend_name() != "jax":
        return False
    jax = importlib.import_module("jax")
    return jax.default_backend() != "cpu" or jax.device_count() > 1


def use_all_devices() -> int:
    """Train data parallel over every device of every process when there is more than one
    (Keras' DataParallel: weights replicated, each batch split along its first axis, gradients
    summed across devices inside the compiled step); returns the device count."""
    if backend_name() != "jax":
        return 1
    jax = importlib.import_module("jax")
    count = jax.device_count()
    if count > 1 and keras.distribution.distribution() is None:
        # auto_shard_dataset=False: DeviceBatches hands each process its own rows of a batch.
        keras.distribution.set_distribution(
            keras.distribution.DataParallel(auto_shard_dataset=False))
    return count


def undistributed(model: keras.Model) -> keras.Model:
    """`model` itself, or, while a distribution is set (data parallel over several devices or
    hosts), a copy of it with the same weights that lives outside the distribution: for
    inference that one process runs alone after training, on batches of any size."""
    distribution = keras.distribution.distribution()
    if distribution is None:
        return model
    weights = model.get_weights()  # replicated on every device, so every process has them
    keras.distribution.set_distribution(None)
    try:
        copy = keras.models.clone_model(model)
        copy.set_weights(weights)
    finally:
        keras.distribution.set_distribution(distribution)
    return copy


def local_device_count() -> int:
    """The devices this process trains on: JAX's local devices, else 1."""
    if backend_name() != "jax":
        return 1
    return importlib.import_module("jax").local_device_count()


def input_fetched_between_steps() -> bool:
    """Whether `fit` fetches each batch on the host between two compiled steps (JAX), rather
    than inside the step from an input pipeline (TensorFlow's tf.data)."""
    return backend_name() == "jax"


@contextlib.contextmanager
def data_parallel_over(devices: int) -> Iterator[None]:
    """Inside the block, models built and trained run data parallel over this process's
    first `devices` devices (1: no distribution, any backend). FerflowError when the backend
    cannot or this process has fewer."""
    check_device_count(devices)
    if devices == 1:
        yield
        return
    names = keras.distribution.list_devices()[:devices]
    # auto_shard_dataset=False: DeviceBatches hands each process its own rows of a batch.
    with keras.distribution.DataParallel(devices=names, auto_shard_dataset=False).scope():
        yield


def check_device_count(devices: int) -> None:
    """FerflowError unless this process can train on `devices` devices."""
    if devices == 1:
        return
    available = local_device_count()
    if backend_name() != "jax":
        raise FerflowError(f"training on {devices} devices needs the JAX backend, and this "
                           f"process runs Keras on {backend_name()}: set KERAS_BACKEND=jax, or "
                           "ask for 1 device")
    if devices > available:
        raise FerflowError(f"{devices} devices asked for, and this process has {available} "
                           f"({device_description()}): ask for at most {available}, or on a "
                           "CPU host split it into more with XLA_FLAGS="
                           f"--xla_force_host_platform_device_count={devices}")


class DeviceBatches(keras.utils.PyDataset):
    """Batches of one split that stays on the devices from the first step to the last.

    `arrays` (images, targets and, or None, per-image weights; equal length) are copied to
    every device of this process once. With a `seed`, each epoch is a permutation drawn on the
    device from the seed and the epoch number (which `epoch_callback` keeps up to date, so a
    resumed training draws the same orders); without, the split's own order. Every batch is
    then gathered by a compiled program on the devices: per step the host sends the batch
    number and nothing else.

    Under a DataParallel distribution over D devices the batch size must be a multiple of D,
    and this process gathers only its own rows of each batch, on its own devices. A batch must
    split evenly, so a shuffled split leaves out the last `(n % batch_size) % D` images of
    each epoch's order (at most D - 1, other ones each epoch), while an unshuffled one (the
    validation split) is padded to a multiple of D with rows of weight 0 and all-zero
    targets; its own images then weigh n_padded / n, so that the epoch's mean loss is that of
    its n images, and an accuracy that skips all-zero targets (training.inputs.OneHotAccuracy)
    is theirs too.
    """

    def __init__(self, arrays: tuple[Any, ...], batch_size: int, *, seed: int | None) -> None:
        super().__init__(workers=1, use_multiprocessing=False)
        jax = importlib.import_module("jax")
        distribution = keras.distribution.distribution()
        devices = distribution.device_mesh.devices.size if distribution else 1
        if batch_size % devices:
            raise FerflowError(f"the accelerator batch size {batch_size} is not a multiple of "
                               f"the {devices} devices: set train.accelerator_batch_size (or "
                               "models.<backbone>.accelerator_batch_size) to one")
        images, targets, weights = (np.asarray(a) if a is not None else None for a in arrays)
        n = len(images)
        if seed is None and n % devices:
            pad = devices - n % devices
            real = (np.ones(n, "float32") if weights is None else weights) * ((n + pad) / n)
            images = np.concatenate([images, images[np.arange(pad) % n]])
            targets = np.concatenate([targets, np.zeros((pad, *targets.shape[1:]),
                                                        targets.dtype)])
            weights = np.concatenate([real, np.zeros(pad, "float32")]).astype("float32")
        self.batch_size, self.seed, self.epoch, self.devices = batch_size, seed, 0, devices
        self.count = n
        self.images = len(images) if seed is None else n - (n % batch_size) % devices
        """Images per epoch (dropped ones excluded, padding included)."""
        self.steps = -(-self.images // batch_size)

        if distribution is None:
            self._place = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
        else:
            mesh = distribution.device_mesh.backend_mesh
            here = [d for d in mesh.devices.flat if d.process_index == jax.process_index()]
            self._local = jax.sharding.Mesh(np.array(here), (distribution.batch_dim_name,))
            self._place = jax.sharding.NamedSharding(self._local, jax.sharding.PartitionSpec())
        self._distribution = distribution
        self._arrays = tuple(jax.device_put(a, self._place)
                             for a in (images, targets, weights) if a is not None)
        self._order_epoch = 0
        self._order = (jax.device_put(np.arange(self.images, dtype="int32"), self._place)
                       if seed is None else self._draw_order(0))
        self._takers: dict[int, Any] = {}

    def __len__(self) -> int:
        return self.steps

    def _draw_order(self, epoch: int) -> Any:
        jax = importlib.import_module("jax")
        n, keep = self.count, self.images

        @functools.partial(jax.jit, out_shardings=self._place)
        def draw(key: Any) -> Any:
            return jax.random.permutation(jax.random.fold_in(key, epoch), n)[:keep]

        return draw(jax.random.key(self.seed))

    def _batch_layout(self, size: int) -> tuple[Any, Any]:
        """Where a batch of `size` goes, and which of its rows this process gathers (None:
        all of them, in order)."""
        jax = importlib.import_module("jax")
        distribution = self._distribution
        if distribution is None:
            return self._place, None
        axis = distribution.batch_dim_name
        placed = jax.sharding.NamedSharding(self._local, jax.sharding.PartitionSpec(axis))
        if jax.process_count() == 1:
            return placed, None
        # This process's devices hold these rows of the global batch; it hands them to Keras
        # in the order of their offsets, as jax.make_array_from_process_local_data expects.
        layout = distribution.get_data_layout((size,)).backend_layout
        starts = sorted({index[0].start or 0 for index in
                         layout.addressable_devices_indices_map((size,)).values()})
        rows = size // self.devices
        return placed, np.concatenate([np.arange(s, s + rows) for s in starts])

    def _taker(self, size: int) -> Any:
        if size not in self._takers:
            jax = importlib.import_module("jax")
            placed, rows = self._batch_layout(size)

            @functools.partial(jax.jit, out_shardings=placed)
            def take(arrays: tuple[Any, ...], order: Any, start: Any) -> tuple[Any, ...]:
                index = jax.lax.dynamic_slice_in_dim(order, start, size)
                if rows is not None:
                    index = index[rows]
                return tuple(a[index] for a in arrays)

            self._takers[size] = take
        return self._takers[size]

    def __getitem__(self, step: int) -> tuple[Any, ...]:
        if self.seed is not None and self._order_epoch != self.epoch:
            self._order, self._order_epoch = self._draw_order(self.epoch), self.epoch
        start = step * self.batch_size
        size = min(self.batch_size, self.images - start)
        return self._taker(size)(self._arrays, self._order, start)

    def epoch_callback(self) -> keras.callbacks.Callback:
        """A callback for `fit` that tells these batches which epoch begins."""
        return _EpochFollower(self)


class _EpochFollower(keras.callbacks.Callback):
    def __init__(self, batches: DeviceBatches) -> None:
        super().__init__()
        self.batches = batches

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.batches.epoch = epoch
