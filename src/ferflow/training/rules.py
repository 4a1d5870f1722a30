"""What happens after an epoch, as a pure function of the training state: is this the best
epoch so far, does the learning rate drop on a plateau, does training stop early. No Keras:
the rules are tested on plain numbers."""

from __future__ import annotations

from dataclasses import dataclass

from ferflow.config import TrainParams
from ferflow.training.state import TrainState


@dataclass(frozen=True)
class EpochDecision:
    improved: bool
    """This epoch's val accuracy beats every earlier one (it becomes the saved model)."""
    learning_rate: float | None
    """The rate for the next epoch when a plateau lowers it, else None (unchanged)."""
    stop: bool
    """No better val accuracy for `early_stopping_patience` epochs of the last phase, or the
    training time reached `time_budget_s` (then no later phase runs either)."""


def after_epoch(state: TrainState, val_accuracy: float, learning_rate: float,
                train: TrainParams, *, last_phase: bool) -> EpochDecision:
    """Apply the epoch's val accuracy to `state` (best epoch, plateau and patience counters;
    `state.epoch` is already this epoch's) and say what the loop must do next."""
    improved = val_accuracy > state.best_val_accuracy
    if improved:
        state.best_val_accuracy, state.best_epoch = val_accuracy, state.epoch
        state.since_best = state.plateau_wait = 0
    else:
        state.since_best += 1
        state.plateau_wait += 1
    new_rate = None
    if train.schedule == "plateau" and state.plateau_wait >= train.plateau_patience:
        # Down to min_learning_rate, never up to it when the recipe starts lower.
        if learning_rate > train.min_learning_rate:
            new_rate = max(learning_rate * train.plateau_factor, train.min_learning_rate)
        state.plateau_wait = 0
    patience = train.early_stopping_patience
    if last_phase and patience and state.since_best >= patience:
        state.stopped_early, state.stop_reason = True, "patience"
    elif train.time_budget_s and state.train_time_s >= train.time_budget_s:
        state.stopped_early, state.stop_reason = True, "time budget"
    return EpochDecision(improved, new_rate, state.stopped_early)
