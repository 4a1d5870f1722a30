"""`train.time_budget_s` as a plan: a measured warm-up says how long a step and a validation
pass take, and the plan buys the epochs (or, below one epoch, the steps) that fit the budget,
so that a cosine schedule decays to its end exactly when the time is up. After each epoch the
plan is checked against the pace of the epochs so far (`replan`): a short warm-up misjudges a
machine's pace by 10-30%, and its pace drifts, so the cosine horizon moves to where the time
really runs out, continuing from the rate it has reached. Plain numbers: the warm-up itself is
`training.pace`, run by the training loop."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

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
    max_epochs: int = 0
    """`train.epochs`, the cap that a later plan may extend the epochs to (0: no further)."""
    anchor_epoch: int = 0
    """The epoch after which the plan was last changed (0: as the warm-up bought it)..."""
    anchor_progress: float = 0.0
    """...and how far through its cosine the schedule was then (0 = start, 1 = floor): from
    there it runs on to the floor at the end of `epochs`."""
    replans: int = 0
    """How often the plan changed after an epoch."""
    first_epoch_s: float = 0.0
    """How long the first epoch took: it also compiles the training step (a quarter more
    than the next ones on cpu_net), so the pace is measured on the epochs after it."""

    def progress(self, epoch: int) -> float:
        """How far through the cosine the schedule is after `epoch` epochs (0..1)."""
        if epoch <= self.anchor_epoch:
            return self.anchor_progress
        span = max(1, self.epochs - self.anchor_epoch)
        share = min(1.0, (epoch - self.anchor_epoch) / span)
        return self.anchor_progress + (1.0 - self.anchor_progress) * share

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
        return BudgetPlan(epochs, steps_per_epoch, step_s, val_s, warmup_s, max_epochs)
    steps = int((left - val_s) // step_s) if step_s > 0 else steps_per_epoch
    return BudgetPlan(1, max(1, min(steps_per_epoch, steps)), step_s, val_s, warmup_s,
                      max_epochs)


def replan(plan: BudgetPlan, budget_s: float, *, epochs_done: int, train_time_s: float
           ) -> BudgetPlan | None:
    """After `epochs_done` epochs that took `train_time_s` in all, the plan that fits the rest
    of the budget at their mean pace (at most `plan.max_epochs`), or None when `plan` still
    does.

    It buys more epochs only when one more fits inside `SAFETY * budget_s` (as the warm-up's
    plan did), and fewer only when the planned ones would overrun the whole budget, so a pace
    that wavers by a few percent does not move the horizon back and forth. The pace is that
    of the epochs after the first (`steady_epoch_s`), so the first check is after epoch 2.
    A finished
    schedule is never extended (its rate is at the floor), and a plan below one epoch (fewer
    steps than the split has) is kept. A plan of `epochs_done` epochs means: stop now."""
    if epochs_done < 2 or epochs_done >= plan.epochs or train_time_s <= 0:
        return None
    epoch_s = steady_epoch_s(plan, epochs_done, train_time_s)
    used = plan.warmup_s + train_time_s

    def fits(epochs: int, share: float) -> bool:
        return used + (epochs - epochs_done) * epoch_s <= share * budget_s

    epochs = plan.epochs
    while epochs < plan.max_epochs and fits(epochs + 1, SAFETY):
        epochs += 1
    while epochs > epochs_done and not fits(epochs, 1.0):
        epochs -= 1
    if epochs == plan.epochs:
        return None
    return replace(plan, epochs=epochs, anchor_epoch=epochs_done,
                   anchor_progress=plan.progress(epochs_done), replans=plan.replans + 1)


def steady_epoch_s(plan: BudgetPlan, epochs_done: int, train_time_s: float) -> float:
    """Seconds per epoch after the first (which compiles), from `epochs_done` >= 2 epochs
    that took `train_time_s` in all."""
    if plan.first_epoch_s and epochs_done >= 2:
        return (train_time_s - plan.first_epoch_s) / (epochs_done - 1)
    return train_time_s / epochs_done


def cosine_rate(base_lr: float, floor: float, progress: float) -> float:
    """The cosine schedule's rate `progress` (0..1) of the way to its end, as Keras'
    `CosineDecay` with `alpha=floor` computes it."""
    return base_lr * (floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress)))
