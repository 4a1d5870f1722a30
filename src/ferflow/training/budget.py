"""`train.time_budget_s` as a plan: a measured warm-up says how long a step and a validation
pass take, and the plan buys the epochs (or, below one epoch, the steps) that fit the budget,
so that a cosine schedule decays to its end exactly when the time is up. Plain numbers: the
warm-up itself is `training.pace`, run by the training loop."""

from __future__ import annotations

from dataclasses import dataclass

from ferflow.training.recipe import Recipe

SAFETY = 0.97
"""Plan for this share of the budget: epochs run a little slower than the warm-up's steps
(validation, checkpoints, a busy machine), and the budget is also the hard stop."""


@dataclass(frozen=True)
class BudgetPlan:
    epochs: int
    """Epochs the budget buys (at most `train.epochs`, which stays the cap)."""
    steps_per_epoch: int
    """The split's batches, or fewer when the budget buys less than one epoch."""
    step_s: float
    """Seconds per training step, measured by the warm-up."""
    val_s: float
    """Seconds per validation pass, measured by the warm-up (compiling included)."""
    warmup_s: float
    """Seconds the warm-up took: charged to the budget."""

    def params(self) -> dict[str, float]:
        """What the run's MLflow params record about the plan."""
        return {"budget.epochs": self.epochs, "budget.steps_per_epoch": self.steps_per_epoch,
                "budget.step_s": round(self.step_s, 5), "budget.val_s": round(self.val_s, 3),
                "budget.warmup_s": round(self.warmup_s, 2)}


def plans_budget(recipe: Recipe) -> bool:
    """Whether `recipe`'s budget fixes its schedule up front: a cosine schedule in one phase.
    A plateau schedule, or a fine-tuning in two phases, keeps the budget as a hard stop only
    (the epoch in which it runs out is the last: `training.rules.after_epoch`)."""
    train = recipe.train
    return bool(train.time_budget_s) and train.schedule == "cosine" and len(recipe.phases()) == 1


def plan_budget(budget_s: float, *, step_s: float, val_s: float, warmup_s: float,
                steps_per_epoch: int, max_epochs: int) -> BudgetPlan:
    """The epochs of `steps_per_epoch` steps and one validation pass each that fit in
    `SAFETY * budget_s` after the warm-up, at most `max_epochs`; when not even one fits, one
    epoch of the steps that do (at least 1)."""
    left = SAFETY * budget_s - warmup_s
    epoch_s = steps_per_epoch * step_s + val_s
    epochs = min(max_epochs, int(left // epoch_s)) if epoch_s > 0 else max_epochs
    if epochs >= 1:
        return BudgetPlan(epochs, steps_per_epoch, step_s, val_s, warmup_s)
    steps = int((left - val_s) // step_s) if step_s > 0 else steps_per_epoch
    return BudgetPlan(1, max(1, min(steps_per_epoch, steps)), step_s, val_s, warmup_s)
