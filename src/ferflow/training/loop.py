"""train@<backbone>: fit one backbone on the train split, select on the validation split,
track it in MLflow, and write the stage outputs. Resumes an interrupted training."""

from __future__ import annotations

import contextlib
import signal
import time
from collections.abc import Iterator
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import keras

from ferflow import backend
from ferflow.config import Params, TrainParams
from ferflow.data.arrays import Split, load_split
from ferflow.data.lineage import read_lineage
from ferflow.data.source_record import data_sha256
from ferflow.layout import Layout
from ferflow.progress import is_interactive
from ferflow.tracking.connect import open_tracker
from ferflow.tracking.run_ref import dvc_experiment_name, git_commit
from ferflow.tracking.store import tracking_uri
from ferflow.training.augment import build_augmenter, training_model
from ferflow.training.budget import (
    BudgetPlan,
    plan_budget,
    plans_budget,
    replan,
    steady_epoch_s,
)
from ferflow.training.calibrate import calibrate
from ferflow.training.checkpoint import Checkpoints, fingerprint
from ferflow.training.inputs import FitInputs, fit_inputs
from ferflow.training.outputs import CURVES, write_outputs
from ferflow.training.pace import time_steps
from ferflow.training.recipe import (
    Recipe,
    learning_rate_for,
    make_optimizer,
    recipe_for,
)
from ferflow.training.rules import after_epoch
from ferflow.training.state import TrainState

if TYPE_CHECKING:
    from ferflow.models.zoo import BuiltModel
    from ferflow.tracking.folder import FolderTracker
    from ferflow.tracking.mlflow_service import TrackingService

    Tracker = TrackingService | FolderTracker


class EpochEnd(keras.callbacks.Callback):
    """After each epoch: record history, apply the epoch rules (best epoch, plateau, early
    stop), checkpoint, then log the epoch to MLflow (in that order, so a resumed run re-logs
    nothing and `_sync_logged_epochs` fills what a kill skipped). Without a tracker (process
    1.. of a multi-host training) it neither logs nor prints."""

    def __init__(self, *, state: TrainState, recipe: Recipe, net: keras.Model,
                 checkpoints: Checkpoints, tracker: Tracker | None,
                 interrupts: InterruptCheck, last_phase: bool, total_epochs: int,
                 images_per_epoch: int) -> None:
        super().__init__()
        self.replanned: BudgetPlan | None = None
        """Set when the time budget's plan changed after an epoch: fit stops, and the loop
        continues with the new horizon (`_fit_phases`)."""
        self.state, self.recipe, self.net = state, recipe, net
        self.checkpoints, self.tracker, self.interrupts = checkpoints, tracker, interrupts
        self.last_phase, self.total_epochs = last_phase, total_epochs
        self.images_per_epoch = images_per_epoch
        self.started = time.monotonic()

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.started = time.monotonic()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = logs or {}
        state = self.state
        # Process 0's clock on every process of a multi-host training, so that all of them
        # take the same decisions (a time budget) and stay in lock-step.
        elapsed = backend.same_on_every_process(time.monotonic() - self.started)
        optimizer = self.model.optimizer
        values = {k: float(logs[k]) for k in CURVES}
        values["learning_rate"] = _current_lr(optimizer)
        for key, value in values.items():
            state.history.setdefault(key, []).append(value)
        state.history.setdefault("phase", []).append(state.phase)
        state.epoch = epoch + 1
        state.train_time_s += elapsed
        state.images_seen += self.images_per_epoch

        decision = after_epoch(state, values["val_accuracy"], values["learning_rate"],
                               self.recipe.train, last_phase=self.last_phase)
        if decision.learning_rate is not None:
            optimizer.learning_rate = decision.learning_rate
        if state.budget and state.epoch == 1:
            state.budget["first_epoch_s"] = elapsed
        replanned = self._replan() if not decision.stop and state.budget else None
        if decision.stop:
            self.model.stop_training = True

        with self.interrupts.deferred():  # a whole checkpoint and epoch log, or neither
            self.checkpoints.save(state, self.net, optimizer, decision.improved)
            if self.tracker is not None:
                self.tracker.log_epoch(state.run_id, state.epoch, values)
        if self.tracker is None:
            return
        if not is_interactive():
            print(f"train {self.recipe.backbone} epoch {state.epoch}/{self.total_epochs}: "
                  f"loss {values['loss']:.4f}, accuracy {values['accuracy']:.4f}, val_loss "
                  f"{values['val_loss']:.4f}, val_accuracy {values['val_accuracy']:.4f}, lr "
                  f"{values['learning_rate']:.3g} ({elapsed:.1f} s)"
                  + (", best so far" if decision.improved else ""), flush=True)
        if replanned:
            print(f"train {self.recipe.backbone}: {replanned}", flush=True)

    def _replan(self) -> str | None:
        """Check the time budget's plan against the epochs so far; when it changes, record it
        in the state (a resumed training keeps it) and stop this fit for the new horizon, or
        for good when no further epoch fits. Returns what changed, for the log."""
        state = self.state
        plan = BudgetPlan(**state.budget)  # type: ignore[arg-type]
        new = replan(plan, self.recipe.train.time_budget_s, epochs_done=state.epoch,
                     train_time_s=state.train_time_s)
        if new is None:
            return None
        state.budget = asdict(new)
        self.model.stop_training = True
        if new.epochs <= state.epoch:
            state.stopped_early, state.stop_reason = True, "time budget"
        else:
            self.replanned = new
        pace = steady_epoch_s(plan, state.epoch, state.train_time_s)
        return (f"after epoch {state.epoch} ({pace:.1f} s an epoch) "
                f"the budget fits {_count(new.epochs, 'epoch')}, not {plan.epochs}: the cosine "
                f"schedule now ends after epoch {new.epochs}")


class InterruptCheck(keras.callbacks.Callback):
    """Ctrl-C (SIGINT) during fit raises KeyboardInterrupt at once, as Python does, and again
    at the next epoch or validation boundary in case code in between swallowed the first one
    (a training that went on after Ctrl-C was seen under load). Active inside
    `watching_interrupts()`, which installs `handle` as the SIGINT handler."""

    def __init__(self) -> None:
        super().__init__()
        self.interrupted = False
        self._deferring = 0

    def handle(self, signum: int, frame: Any) -> None:
        self.interrupted = True
        if not self._deferring:
            raise KeyboardInterrupt

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        """Ctrl-C inside the block is raised when the block ends, not in the middle of it: a
        KeyboardInterrupt inside an MLflow write once left SQLite's write lock held by the
        interrupted connection, and ending the run FAILED then waited on that lock."""
        self._deferring += 1
        try:
            yield
        finally:
            self._deferring -= 1
        if self.interrupted and not self._deferring:
            raise KeyboardInterrupt

    def _check(self, *args: Any) -> None:
        if self.interrupted:
            raise KeyboardInterrupt

    on_epoch_begin = on_epoch_end = on_test_begin = _check


@contextlib.contextmanager
def watching_interrupts() -> Iterator[InterruptCheck]:
    """An `InterruptCheck` that is the SIGINT handler for the block (in the main thread; in
    another thread signals reach the main thread's handler anyway, so none is installed)."""
    check = InterruptCheck()
    try:
        previous = signal.signal(signal.SIGINT, check.handle)
    except ValueError:
        yield check
        return
    try:
        yield check
    finally:
        signal.signal(signal.SIGINT, previous)


def _current_lr(optimizer: keras.optimizers.Optimizer) -> float:
    """The learning rate at the end of the epoch (a schedule evaluated at the step count)."""
    lr = optimizer.learning_rate
    return float(keras.ops.convert_to_numpy(lr))


def _sync_logged_epochs(tracker: Tracker, state: TrainState) -> None:
    """Log epochs the checkpoint has but MLflow lacks (a kill between checkpoint and log)."""
    logged = tracker.logged_epochs(state.run_id, "val_accuracy")
    for epoch in range(logged + 1, state.epoch + 1):
        tracker.log_epoch(state.run_id, epoch, {
            k: state.history[k][epoch - 1] for k in (*CURVES, "learning_rate")})


def build_for_training(recipe: Recipe) -> tuple[BuiltModel, keras.Model]:
    """The recipe's model (seeded) and the `augment → net` wrapper that `fit` trains."""
    from ferflow.models.zoo import create_model

    m = recipe.model
    built = create_model(recipe.backbone, head=m.head, width=m.width, dropout=m.dropout,
                         weights=m.weights, pretrained_input_size=m.pretrained_input_size,
                         seed=recipe.train.seed)
    augmenter = build_augmenter(recipe.train.augment, seed=recipe.train.seed)
    return built, training_model(built.model, augmenter)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def measure_budget(recipe: Recipe, inputs: FitInputs, train_set: Split, val_set: Split, *,
                   warmup: int = 2, steps: int = 8) -> BudgetPlan:
    """The time budget's warm-up: a model of `recipe` of its own trains `warmup` + `steps`
    steps on the first train batches and validates once; `steps` are timed. `inputs` are the
    training's own (their batch and epoch size). The same numbers on every process of a
    multi-host training (process 0's)."""
    started = time.monotonic()
    built, wrapper = build_for_training(recipe)
    probe = Split(train_set.x[:(warmup + steps) * inputs.batch_size],
                  train_set.y[:(warmup + steps) * inputs.batch_size])
    probe_inputs = fit_inputs(probe, val_set, recipe.train)
    compile_phase(wrapper, built, recipe.train, recipe.train.learning_rate, 1, inputs.steps,
                  probe_inputs.accuracy)
    arguments = {k: v for k, v in probe_inputs.arguments.items() if k != "validation_data"}
    # A train split of fewer batches than the warm-up: time what there is (compiling too).
    warmup = min(warmup, probe_inputs.steps - 1)
    pace = time_steps(wrapper, arguments, probe_inputs.callbacks, warmup=warmup,
                      steps=probe_inputs.steps - warmup)
    validated = time.monotonic()
    validation = probe_inputs.arguments["validation_data"]
    if isinstance(validation, tuple):
        wrapper.evaluate(*validation, batch_size=inputs.batch_size, verbose=0)
    else:
        wrapper.evaluate(validation, verbose=0)
    now = time.monotonic()
    step_s, val_s, warmup_s = (backend.same_on_every_process(v)
                               for v in (pace.step_s, now - validated, now - started))
    return plan_budget(recipe.train.time_budget_s, step_s=step_s, val_s=val_s,
                       warmup_s=warmup_s, steps_per_epoch=inputs.steps,
                       max_epochs=recipe.train.epochs)


def compile_phase(wrapper: keras.Model, built: BuiltModel, train: TrainParams, base_lr: float,
                  epochs: int, steps_per_epoch: int,
                  accuracy: type[keras.metrics.Metric] = keras.metrics.CategoricalAccuracy,
                  *, anchor: tuple[int, float] = (0, 0.0)) -> None:
    """Compile `wrapper` for one training phase: the recipe's optimizer and schedule over
    `epochs` (from `anchor`: `learning_rate_for`), the head's loss, and `accuracy` (the one
    the inputs need: `FitInputs`)."""
    from ferflow.models import loss_for_head

    lr = learning_rate_for(train, base_lr, epochs, steps_per_epoch, anchor=anchor)
    wrapper.compile(optimizer=make_optimizer(train, lr),
                    loss=loss_for_head(built.head, train.label_smoothing),
                    metrics=[accuracy(name="accuracy")])


def train_stage(backbone: str, params: Params, *, layout: Layout) -> dict[str, Any]:
    """train@<backbone> as pipeline/train.py runs it: join the other processes of a multi-host
    training first (FERFLOW_COORDINATOR, ...: `backend.join_processes`), then train; only
    process 0 opens the tracking store ($MLFLOW_TRACKING_URI)."""
    processes = backend.join_processes()
    tracker = (open_tracker(tracking_uri(), params.mlflow.experiment) if processes.primary
               else None)
    return train_backbone(backbone, params, layout=layout, tracker=tracker)


def train_backbone(backbone: str, params: Params, *, layout: Layout,
                   tracker: Tracker | None) -> dict[str, Any]:
    """Train `backbone` with its effective recipe and write every output under `layout`;
    returns the metrics written to its train metrics file. A checkpoint in its resume folder
    made with the same settings and data is resumed, continuing the same MLflow run. Once the
    run is started or resumed, any failure ends it FAILED (its checkpoint stays, so a rerun
    still resumes it).

    With several devices it trains data parallel over all of them. In a multi-host training
    (`backend.join_processes`) every process runs this in lock-step on its own copy of the
    data; only process 0 has a `tracker` (the others pass None), logs and writes the outputs,
    and no process resumes (all of them would have to find the same checkpoint)."""
    from ferflow.models.zoo import available_models

    processes = backend.join_processes()
    if (tracker is None) == processes.primary:
        raise ValueError(f"process {processes.index} of {processes.count} "
                         f"{'needs' if processes.primary else 'must not have'} a tracker")
    recipe = recipe_for(params, backbone, available_models())
    train_set, val_set = (load_split(layout.arrays_dir, s) for s in ("train", "val"))
    backend.use_all_devices()
    policy = backend.configure_precision(recipe.train.mixed_precision)
    checkpoints = Checkpoints(layout.resume_dir(backbone, processes.index))
    resumable = tracker is not None and processes.count == 1
    stamp = (fingerprint(recipe, [layout.arrays("train"), layout.arrays("val")],
                         tracker.tracking_uri) if tracker is not None else "")
    state = checkpoints.load(stamp) if resumable else None
    inputs = fit_inputs(train_set, val_set, recipe.train)
    plan = None
    if plans_budget(recipe):
        # Before the real model is built (which seeds every random state): the warm-up's own
        # model leaves no trace in the training, resumed or not.
        plan = (BudgetPlan(**state.budget) if state and state.budget else
                measure_budget(recipe, inputs, train_set, val_set))
        print(f"train {backbone}: {recipe.train.time_budget_s:g} s (train.time_budget_s) "
              f"{'bought' if state and state.budget else 'buy'} {_count(plan.epochs, 'epoch')} "
              f"of {_count(plan.steps_per_epoch, 'step')} ({plan.step_s * 1000:.1f} ms a step, "
              f"{plan.val_s:.1f} s a validation)", flush=True)
    # Built before any run exists: a missing or broken weights file stops here, not in a run,
    # and so does a batch size that the devices cannot split.
    run_recipe = recipe if plan is None else recipe.with_epochs(plan.epochs)
    built, wrapper = build_for_training(run_recipe)
    if plan is not None and plan.steps_per_epoch < inputs.steps:
        inputs = inputs.limited_to(plan.steps_per_epoch)

    if tracker is None:
        return _train_in_lock_step(run_recipe, built, wrapper, policy, checkpoints=checkpoints,
                                   inputs=inputs, train_images=len(train_set.y), layout=layout,
                                   budget=asdict(plan) if plan else None)
    previous = state.run_id if state else checkpoints.run_for(stamp) if resumable else None
    if previous is not None and tracker.resume_run(previous):
        run_id, new_run = previous, False
    else:
        tags = run_tags(recipe, data_sha256(layout.source_json), policy)
        run_id, new_run = tracker.start_run(backbone, tags), True
        state = None
    with tracker.failed_on_error(run_id):
        if new_run:
            tracker.log_params(run_id, {**recipe.flat(), "data.train_images": len(train_set.y),
                                        "data.val_images": len(val_set.y),
                                        **(plan.params() if plan else {})})
            lineage = read_lineage(layout)
            if lineage is not None:
                tracker.log_datasets(run_id, lineage)
            checkpoints.remember_run(run_id, stamp)
        if state is None:
            state = TrainState(fingerprint=stamp, run_id=run_id,
                               budget=asdict(plan) if plan else None)
        else:
            print(f"train {backbone}: resuming after epoch {state.epoch} "
                  f"(MLflow run {run_id}) from {checkpoints.current}", flush=True)
            _sync_logged_epochs(tracker, state)
        system_metrics = (tracker.system_metrics(run_id) if params.mlflow.system_metrics
                          else contextlib.nullcontext())
        with (backend.failing_on_lost_process(lambda: tracker.finish(run_id, "FAILED")),
              system_metrics):
            with watching_interrupts() as interrupts:
                _fit_phases(run_recipe, built, wrapper, state=state, checkpoints=checkpoints,
                            tracker=tracker, inputs=inputs, interrupts=interrupts)
            metrics = _finish_training(built.model, state, run_recipe, policy,
                                       len(train_set.y), checkpoints=checkpoints,
                                       tracker=tracker, layout=layout, val_set=val_set)
    checkpoints.clear()
    return metrics


def _train_in_lock_step(recipe: Recipe, built: BuiltModel, wrapper: keras.Model, policy: str,
                        *, checkpoints: Checkpoints, inputs: FitInputs, train_images: int,
                        layout: Layout, budget: dict[str, Any] | None) -> dict[str, Any]:
    """Process 1.. of a multi-host training: the same phases, epochs and steps as process 0,
    whose collectives need it, but untracked (re-planning a time budget on process 0's clock
    as process 0 does); its own checkpoints hold the best epoch's weights, which every
    process loads together at the end."""
    state = TrainState(fingerprint="", run_id="", budget=budget)
    with backend.failing_on_lost_process():
        with watching_interrupts() as interrupts:
            _fit_phases(recipe, built, wrapper, state=state, checkpoints=checkpoints,
                        tracker=None, inputs=inputs, interrupts=interrupts)
        metrics = _finish_training(built.model, state, recipe, policy, train_images,
                                   checkpoints=checkpoints, tracker=None, layout=layout)
    checkpoints.clear()
    return metrics


def _fit_phases(recipe: Recipe, built: BuiltModel, wrapper: keras.Model, *, state: TrainState,
                checkpoints: Checkpoints, tracker: Tracker | None, inputs: FitInputs,
                interrupts: InterruptCheck) -> None:
    """Fit every phase of the recipe from `state` on (a resumed state skips what it did)."""
    from ferflow.models.zoo import set_training_phase

    net = built.model
    phases = recipe.phases()
    total = phases[-1][2]
    restored = False
    for phase, first, end, base_lr in phases:
        if state.stopped_early or state.epoch >= end:
            continue  # finished before the interruption
        set_training_phase(built, phase)
        plan = BudgetPlan(**state.budget) if state.budget else None  # type: ignore[arg-type]
        anchor = (plan.anchor_epoch, plan.anchor_progress) if plan else (0, 0.0)
        compile_phase(wrapper, built, recipe.train, base_lr, end - first, inputs.steps,
                      inputs.accuracy, anchor=anchor)
        if state.epoch > 0 and not restored:
            # The optimizer's state belongs to the phase it was saved in; a new phase starts
            # a fresh optimizer at its own learning rate.
            same_phase = state.phase == phase
            checkpoints.restore(net, wrapper.optimizer if same_phase else None,
                                wrapper.trainable_variables)
            restored = True
        if state.phase != phase:
            state.phase, state.plateau_wait = phase, 0
        while True:
            callback = EpochEnd(state=state, recipe=recipe, net=net, checkpoints=checkpoints,
                                tracker=tracker, interrupts=interrupts,
                                last_phase=phase == phases[-1][0], total_epochs=total,
                                images_per_epoch=inputs.images)
            wrapper.fit(**inputs.arguments, epochs=end, initial_epoch=state.epoch,
                        callbacks=[interrupts, callback, *inputs.callbacks],
                        verbose=1 if is_interactive() and tracker is not None else 0)
            moved = callback.replanned
            if moved is None:
                break
            # A budgeted recipe has one phase: its cosine continues to the new end. The
            # compiled step holds the schedule's numbers, so it is traced again.
            recipe = recipe.with_epochs(moved.epochs)
            end = total = moved.epochs
            wrapper.optimizer.learning_rate = learning_rate_for(
                recipe.train, base_lr, end - first, inputs.steps,
                anchor=(moved.anchor_epoch, moved.anchor_progress))
            wrapper.train_function = None
        if state.stopped_early and tracker is not None:
            why = (f"{recipe.train.time_budget_s:g} s of training (train.time_budget_s)"
                   if state.stop_reason == "time budget" else
                   f"no better val accuracy for {recipe.train.early_stopping_patience} epochs")
            print(f"train {recipe.backbone}: stopped after epoch {state.epoch}: {why}",
                  flush=True)


def _finish_training(net: keras.Model, state: TrainState, recipe: Recipe, policy: str,
                     train_images: int, *, checkpoints: Checkpoints, tracker: Tracker | None,
                     layout: Layout, val_set: Split | None = None) -> dict[str, Any]:
    """Fit the best epoch's calibration temperature on `val_set`, write that model and the
    stage outputs, log them, end the run FINISHED (without a tracker: only load the best
    epoch's weights)."""
    from ferflow.models.zoo import count_params

    # The best epoch on the validation split is what gets saved, evaluated and registered.
    checkpoints.load_best(net)
    backend.finish_processes()  # the last step all processes of a multi-host training take
    backbone = recipe.backbone
    metrics = {
        "backbone": backbone,
        "best_val_accuracy": state.best_val_accuracy,
        "best_epoch": state.best_epoch,
        "epochs_run": state.epoch,
        "stopped_early": state.stopped_early,
        "stopped_by": state.stop_reason,
        "train_time_s": round(state.train_time_s, 3),
        "images_per_s": round(state.images_seen / state.train_time_s, 1)
        if state.train_time_s else 0.0,
        "params": count_params(net),
        "train_images": train_images,
        "precision": policy,
    }
    if tracker is None:
        return metrics
    assert val_set is not None, "process 0 calibrates on the validation split"
    net, calibration = calibrate(net, val_set)
    metrics.update(calibration)
    run_id = state.run_id
    write_outputs(net, state, metrics, tracker.ref(run_id), layout, backbone)
    tracker.log_metrics(run_id, {k: float(metrics[k]) for k in (
        "best_val_accuracy", "best_epoch", "epochs_run", "train_time_s", "images_per_s",
        "params", *calibration)})
    if state.budget:
        # The plan as it ended (the budget.* params hold the warm-up's).
        tracker.log_metrics(run_id, {"budget.final_epochs": float(state.budget["epochs"]),
                                     "budget.replans": float(state.budget.get("replans", 0))})
    tracker.log_artifact(run_id, layout.curves_png(backbone), "training")
    tracker.log_artifact(run_id, layout.history(backbone), "training")
    tracker.log_keras_model(run_id, net)
    tracker.finish(run_id)
    return metrics


def run_tags(recipe: Recipe, data_sha: str, policy: str) -> dict[str, str]:
    """Tags that say what was trained on what, where."""
    commit = git_commit()
    tags = {
        "backbone": recipe.backbone,
        "head": recipe.model.head,
        "pretrained": str(recipe.pretrained).lower(),
        "git_commit": commit,
        "mlflow.source.git.commit": commit,
        "data_sha256": data_sha,
        "keras_backend": backend.backend_name(),
        "keras_version": keras.__version__,
        "device": backend.device_description(),
        "precision": policy,
        "stage": "train",
    }
    experiment = dvc_experiment_name()
    if experiment:
        tags["dvc_experiment"] = experiment
    return tags
