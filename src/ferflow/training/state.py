"""The state of one training between epochs, as the epoch rules update it and a checkpoint
saves it (plain data: no Keras)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class TrainState:
    """Everything besides weights that a resumed training needs to continue as if never cut."""

    fingerprint: str
    run_id: str
    epoch: int = 0
    """Epochs completed (the next epoch's 0-based index)."""
    phase: int = 1
    history: dict[str, list[float]] = field(default_factory=dict)
    best_val_accuracy: float = -1.0
    best_epoch: int = 0
    since_best: int = 0
    plateau_wait: int = 0
    stopped_early: bool = False
    stop_reason: str = ""
    """Why training stopped before its last epoch: "patience" or "time budget"."""
    train_time_s: float = 0.0
    images_seen: int = 0
    budget: dict[str, float] | None = None
    """`training.budget.BudgetPlan`'s fields when `train.time_budget_s` planned the epochs: a
    resumed training keeps the plan instead of measuring again."""
