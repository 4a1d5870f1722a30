"""Ctrl-C ends a fit even when something in between swallows the first KeyboardInterrupt."""

from __future__ import annotations

import contextlib
import os
import signal

import keras
import numpy as np
import pytest

from ferflow.training.loop import watching_interrupts


class SwallowOneInterrupt(keras.callbacks.Callback):
    """Sends SIGINT in the second batch and swallows the KeyboardInterrupt it raises, as native
    code that catches everything would."""

    def __init__(self) -> None:
        super().__init__()
        self.batches = self.epochs = 0

    def on_train_batch_end(self, batch, logs=None) -> None:
        self.batches += 1
        if self.batches == 2:
            with contextlib.suppress(KeyboardInterrupt):
                os.kill(os.getpid(), signal.SIGINT)

    def on_epoch_end(self, epoch, logs=None) -> None:
        self.epochs += 1


def _model() -> keras.Model:
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    return model


def test_a_swallowed_ctrl_c_still_stops_the_fit_at_the_epoch_end() -> None:
    x, y = np.zeros((64, 4), "float32"), keras.utils.to_categorical(np.arange(64) % 2, 2)
    swallow = SwallowOneInterrupt()
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt), watching_interrupts() as interrupts:
        _model().fit(x, y, batch_size=8, epochs=50, callbacks=[interrupts, swallow], verbose=0)
    assert swallow.batches == 8 and swallow.epochs == 0  # the rest of epoch 1, no epoch 2
    assert signal.getsignal(signal.SIGINT) is before


def test_the_previous_handler_is_back_after_the_block() -> None:
    seen = []
    before = signal.signal(signal.SIGINT, lambda signum, frame: seen.append(signum))
    try:
        with watching_interrupts():
            pass
        os.kill(os.getpid(), signal.SIGINT)
        assert seen == [signal.SIGINT]
    finally:
        signal.signal(signal.SIGINT, before)
