"""The epoch rules on plain numbers: best epoch, plateau drops, early stopping (no Keras)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ferflow.config import load_params
from ferflow.training.rules import after_epoch
from ferflow.training.state import TrainState

RECIPE = load_params(Path(__file__).resolve().parents[2] / "params.yaml").train


def _run(val: list[float], **keys) -> tuple[TrainState, list]:
    train = RECIPE.model_copy(update=keys)
    state, decisions, lr = TrainState(fingerprint="f", run_id="r"), [], 0.1
    for epoch, accuracy in enumerate(val, start=1):
        state.epoch = epoch
        decision = after_epoch(state, accuracy, lr, train, last_phase=True)
        lr = decision.learning_rate or lr
        decisions.append(decision)
    return state, decisions


def test_best_epoch_is_the_first_with_the_highest_val_accuracy() -> None:
    state, decisions = _run([0.3, 0.5, 0.5, 0.4], early_stopping_patience=0)
    assert [d.improved for d in decisions] == [True, True, False, False]
    assert (state.best_epoch, state.best_val_accuracy, state.since_best) == (2, 0.5, 2)
    assert not any(d.stop for d in decisions) and not state.stopped_early


def test_early_stopping_after_patience_epochs_without_a_better_one() -> None:
    state, decisions = _run([0.3, 0.5, 0.4, 0.45, 0.6], early_stopping_patience=2)
    assert [d.stop for d in decisions][:4] == [False, False, False, True]
    assert state.stopped_early and state.stop_reason == "patience"


def test_early_stopping_waits_for_the_last_phase() -> None:
    train = RECIPE.model_copy(update={"early_stopping_patience": 1})
    state = TrainState(fingerprint="f", run_id="r", best_val_accuracy=0.9, epoch=3)
    assert not after_epoch(state, 0.1, 0.1, train, last_phase=False).stop


def test_plateau_lowers_the_rate_down_to_the_floor_only() -> None:
    _, decisions = _run([0.5, 0.4, 0.4, 0.4, 0.4], schedule="plateau", plateau_patience=2,
                        plateau_factor=0.5, min_learning_rate=0.03, early_stopping_patience=0)
    assert [d.learning_rate for d in decisions] == [None, None, pytest.approx(0.05), None,
                                                    pytest.approx(0.03)]
    # A cosine schedule owns the rate: plateaus never touch it.
    _, decisions = _run([0.5, 0.4, 0.4, 0.4], schedule="cosine", plateau_patience=1)
    assert all(d.learning_rate is None for d in decisions)


def test_a_rate_already_below_the_floor_is_never_raised() -> None:
    train = RECIPE.model_copy(update={"schedule": "plateau", "plateau_patience": 1,
                                      "min_learning_rate": 0.5})
    state = TrainState(fingerprint="f", run_id="r", best_val_accuracy=0.9, epoch=2)
    assert after_epoch(state, 0.1, 0.1, train, last_phase=True).learning_rate is None


def test_the_rules_load_without_keras() -> None:
    code = ("import sys, ferflow.training.rules; "
            "assert 'keras' not in sys.modules and 'tensorflow' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_the_time_budget_ends_training_in_any_phase() -> None:
    train = RECIPE.model_copy(update={"time_budget_s": 30.0, "early_stopping_patience": 0})
    state = TrainState(fingerprint="f", run_id="r", epoch=1, train_time_s=29.0)
    assert not after_epoch(state, 0.5, 0.1, train, last_phase=False).stop
    state.epoch, state.train_time_s = 2, 31.0
    assert after_epoch(state, 0.6, 0.1, train, last_phase=False).stop
    assert state.stopped_early and state.stop_reason == "time budget"
    unlimited = RECIPE.model_copy(update={"time_budget_s": 0.0})
    state = TrainState(fingerprint="f", run_id="r", epoch=1, train_time_s=1e9)
    assert not after_epoch(state, 0.5, 0.1, unlimited, last_phase=True).stop
