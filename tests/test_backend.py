"""ferflow.backend in this process (the suite's backend, TensorFlow): the multi-host settings
and their errors, lost-process errors, and DeviceBatches' epochs. Training on the JAX backend,
on several devices and processes: tests/training/test_device_input.py, test_multi_host.py."""

from __future__ import annotations

import numpy as np
import pytest

from ferflow import backend
from ferflow.errors import FerflowError

NAMES = (backend.COORDINATOR, backend.NUM_PROCESSES, backend.PROCESS_ID)


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch):
    """Set the FERFLOW_* process variables (None: unset) for a fresh join_processes."""
    monkeypatch.setattr(backend, "_processes", None)

    def put(coordinator: str | None, count: str | None, index: str | None) -> None:
        for name, value in zip(NAMES, (coordinator, count, index), strict=True):
            if value is None:
                monkeypatch.delenv(name, raising=False)
            else:
                monkeypatch.setenv(name, value)

    return put


def test_without_the_variables_it_is_one_process(settings) -> None:
    settings(None, None, None)
    assert backend.join_processes() == backend.Processes(0, 1)
    assert backend.join_processes().primary
    assert backend.same_on_every_process(2.5) == 2.5


@pytest.mark.parametrize(("values", "message"), [
    (("10.0.0.1:1234", None, "0"), "FERFLOW_COORDINATOR, FERFLOW_PROCESS_ID set but "
                                   "FERFLOW_NUM_PROCESSES not"),
    (("10.0.0.1:1234", "two", "0"), "FERFLOW_NUM_PROCESSES='two': expected a whole number"),
    (("10.0.0.1:1234", "2", "2"), "FERFLOW_PROCESS_ID=2 is not below FERFLOW_NUM_PROCESSES=2"),
    (("10.0.0.1:1234", "2", "-1"), "FERFLOW_PROCESS_ID='-1': expected a whole number of at "
                                   "least 0"),
    (("10.0.0.1", "2", "0"), "FERFLOW_COORDINATOR='10.0.0.1' is not host:port"),
    (("10.0.0.1:1234", "2", "1"), "FERFLOW_NUM_PROCESSES=2 needs the JAX backend"),
])
def test_bad_process_settings_are_named(settings, values, message: str) -> None:
    settings(*values)
    with pytest.raises(FerflowError, match="^" + message.replace("(", r"\(")):
        backend.join_processes()


def test_one_process_of_one_needs_no_coordinator(settings) -> None:
    settings("10.0.0.1:1234", "1", "0")
    assert backend.join_processes() == backend.Processes(0, 1)


def test_a_failed_collective_is_a_lost_process_only_in_a_multi_host_training(
        monkeypatch: pytest.MonkeyPatch) -> None:
    reset = ValueError("UNKNOWN: Gloo AllReduce failed: [pair.cc:538] Read error "
                       "[127.0.0.1]:4242: Connection reset by peer")
    monkeypatch.setattr(backend, "_lost", False)
    monkeypatch.setattr(backend, "_processes", backend.Processes(0, 1))
    with pytest.raises(ValueError, match="Gloo"), backend.failing_on_lost_process():
        raise reset
    assert not backend._lost

    monkeypatch.setattr(backend, "_processes", backend.Processes(1, 3))
    with pytest.raises(backend.LostProcess) as lost, backend.failing_on_lost_process():
        raise reset
    assert str(lost.value).startswith("process 1 of 3: another process of this multi-host "
                                      "training is lost (a collective failed: UNKNOWN: Gloo")
    assert lost.value.exit_code == 1 and backend._lost  # exits without JAX's barrier
    monkeypatch.setattr(backend, "_lost", False)
    with pytest.raises(KeyError), backend.failing_on_lost_process():
        raise KeyError("a bug, not a lost process")
    assert not backend._lost


def test_tensorflow_keeps_the_numpy_input_path_on_one_device() -> None:
    assert not backend.input_on_device()
    assert backend.use_all_devices() == 1


def test_device_batches_cover_each_epoch_once_in_an_order_of_its_own() -> None:
    n, size = 37, 8
    ids = np.arange(n, dtype="float32")
    images = np.broadcast_to(ids[:, None, None, None], (n, 2, 2, 1)).copy()
    targets = np.eye(7, dtype="float32")[np.arange(n) % 7]

    def epoch(batches: backend.DeviceBatches, number: int) -> list[int]:
        batches.epoch = number
        taken = [batches[i] for i in range(len(batches))]
        assert [len(x) for x, _ in taken] == [8, 8, 8, 8, 5]
        rows = np.concatenate([np.asarray(x)[:, 0, 0, 0] for x, _ in taken]).astype(int)
        labels = np.concatenate([np.asarray(y) for _, y in taken])
        np.testing.assert_array_equal(labels, targets[rows])  # images and targets together
        return rows.tolist()

    shuffled = backend.DeviceBatches((images, targets, None), size, seed=3)
    assert len(shuffled) == 5 and shuffled.images == n
    first, second = epoch(shuffled, 0), epoch(shuffled, 1)
    assert sorted(first) == sorted(second) == list(range(n)) and first != second
    again = backend.DeviceBatches((images, targets, None), size, seed=3)
    assert epoch(again, 1) == second  # an epoch's order depends on the seed and its number
    assert epoch(backend.DeviceBatches((images, targets, None), size, seed=None), 4) == list(
        range(n))
