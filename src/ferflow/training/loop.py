"""train@<backbone>: fit one backbone on the train split, select on the validation split,
track it in MLflow, and write the stage outputs. Resumes an interrupted training."""

from __future__ import annotations

import contextlib
import math
import signal
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import keras

from ferflow import EMOTIONS, backend
from ferflow.config import Params, TrainParams
from ferflow.data.arrays import Split, load_split
from ferflow.data.source_record import data_sha256
from ferflow.layout import Layout
from ferflow.progress import is_interactive
from ferflow.tracking.mlflow_service import TrackingService, dvc_experiment_name, git_commit
from ferflow.training.augment import build_augmenter, training_model
from ferflow.training.checkpoint import Checkpoints, fingerprint
from ferflow.training.outputs import CURVES, write_outputs
from ferflow.training.recipe import (
    Recipe,
    balanced_class_weights,
    learning_rate_for,
    make_optimizer,
    recipe_for,
)
from ferflow.training.rules import after_epoch
from ferflow.training.state import TrainState

if TYPE_CHECKING:
    from ferflow.models.zoo import BuiltModel


class EpochEnd(keras.callbacks.Callback):
    """After each epoch: record history, apply the epoch rules (best epoch, plateau, early
    stop), checkpoint, then log the epoch to MLflow (in that order, so a resumed run re-logs
    nothing and `_sync_logged_epochs` fills what a kill skipped)."""

    def __init__(self, *, state: TrainState, recipe: Recipe, net: keras.Model,
                 checkpoints: Checkpoints, tracker: TrackingService, last_phase: bool,
                 total_epochs: int, images_per_epoch: int) -> None:
        super().__init__()
        self.state, self.recipe, self.net = state, recipe, net
        self.checkpoints, self.tracker = checkpoints, tracker
        self.last_phase, self.total_epochs = last_phase, total_epochs
        self.images_per_epoch = images_per_epoch
        self.started = time.monotonic()

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.started = time.monotonic()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = logs or {}
        state = self.state
        elapsed = time.monotonic() - self.started
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
        if decision.stop:
            self.model.stop_training = True

        self.checkpoints.save(state, self.net, optimizer, decision.improved)
        self.tracker.log_epoch(state.run_id, state.epoch, values)
        if not is_interactive():
            print(f"train {self.recipe.backbone} epoch {state.epoch}/{self.total_epochs}: "
                  f"loss {values['loss']:.4f}, accuracy {values['accuracy']:.4f}, val_loss "
                  f"{values['val_loss']:.4f}, val_accuracy {values['val_accuracy']:.4f}, lr "
                  f"{values['learning_rate']:.3g} ({elapsed:.1f} s)"
                  + (", best so far" if decision.improved else ""), flush=True)


class InterruptCheck(keras.callbacks.Callback):
    """Ctrl-C (SIGINT) during fit raises KeyboardInterrupt at once, as Python does, and again
    at the next epoch or validation boundary in case code in between swallowed the first one
    (a training that went on after Ctrl-C was seen under load). Active inside
    `watching_interrupts()`, which installs `handle` as the SIGINT handler."""

    def __init__(self) -> None:
        super().__init__()
        self.interrupted = False

    def handle(self, signum: int, frame: Any) -> None:
        self.interrupted = True
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


def _sync_logged_epochs(tracker: TrackingService, state: TrainState) -> None:
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


def compile_phase(wrapper: keras.Model, built: BuiltModel, train: TrainParams, base_lr: float,
                  epochs: int, steps_per_epoch: int) -> None:
    """Compile `wrapper` for one training phase: the recipe's optimizer and schedule over
    `epochs`, the head's loss, and accuracy."""
    from ferflow.models import loss_for_head

    lr = learning_rate_for(train, base_lr, epochs, steps_per_epoch)
    wrapper.compile(optimizer=make_optimizer(train, lr),
                    loss=loss_for_head(built.head, train.label_smoothing),
                    metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")])


def train_backbone(backbone: str, params: Params, *, layout: Layout,
                   tracker: TrackingService) -> dict[str, Any]:
    """Train `backbone` with its effective recipe and write every output under `layout`;
    returns the metrics written to its train metrics file. A checkpoint in its resume folder
    made with the same settings and data is resumed, continuing the same MLflow run. Once the
    run is started or resumed, any failure ends it FAILED (its checkpoint stays, so a rerun
    still resumes it)."""
    from ferflow.models.zoo import available_models

    recipe = recipe_for(params, backbone, available_models())
    train_set, val_set = (load_split(layout.arrays_dir, s) for s in ("train", "val"))
    policy = backend.configure_precision(recipe.train.mixed_precision)
    # Built before any run exists: a missing or broken weights file stops here, not in a run.
    built, wrapper = build_for_training(recipe)

    checkpoints = Checkpoints(layout.resume_dir(backbone))
    stamp = fingerprint(recipe, [layout.arrays("train"), layout.arrays("val")],
                        tracker.tracking_uri)
    state = checkpoints.load(stamp)
    previous = state.run_id if state else checkpoints.run_for(stamp)
    if previous is not None and tracker.resume_run(previous):
        run_id, new_run = previous, False
    else:
        tags = run_tags(recipe, data_sha256(layout.source_json), policy)
        run_id, new_run = tracker.start_run(backbone, tags), True
        state = None
    with tracker.failed_on_error(run_id):
        if new_run:
            tracker.log_params(run_id, {**recipe.flat(), "data.train_images": len(train_set.y),
                                        "data.val_images": len(val_set.y)})
            checkpoints.remember_run(run_id, stamp)
        if state is None:
            state = TrainState(fingerprint=stamp, run_id=run_id)
        else:
            print(f"train {backbone}: resuming after epoch {state.epoch} "
                  f"(MLflow run {run_id}) from {checkpoints.current}", flush=True)
            _sync_logged_epochs(tracker, state)
        with watching_interrupts() as interrupts:
            _fit_phases(recipe, built, wrapper, state=state, checkpoints=checkpoints,
                        tracker=tracker, train_set=train_set, val_set=val_set,
                        interrupts=interrupts)
        metrics = _finish_training(built.model, state, recipe, policy, len(train_set.y),
                                   checkpoints=checkpoints, tracker=tracker, layout=layout)
    checkpoints.clear()
    return metrics


def _fit_phases(recipe: Recipe, built: BuiltModel, wrapper: keras.Model, *, state: TrainState,
                checkpoints: Checkpoints, tracker: TrackingService, train_set: Split,
                val_set: Split, interrupts: InterruptCheck) -> None:
    """Fit every phase of the recipe from `state` on (a resumed state skips what it did)."""
    from ferflow.models.zoo import set_training_phase

    net = built.model
    targets = keras.utils.to_categorical(train_set.y, len(EMOTIONS))
    val_targets = keras.utils.to_categorical(val_set.y, len(EMOTIONS))
    class_weight = (balanced_class_weights(train_set.y, len(EMOTIONS))
                    if recipe.train.class_weights == "balanced" else None)
    batch = recipe.train.batch_size
    steps = math.ceil(len(train_set.y) / batch)
    phases = recipe.phases()
    total = phases[-1][2]
    restored = False
    for phase, first, end, base_lr in phases:
        if state.stopped_early or state.epoch >= end:
            continue  # finished before the interruption
        set_training_phase(built, phase)
        compile_phase(wrapper, built, recipe.train, base_lr, end - first, steps)
        if state.epoch > 0 and not restored:
            # The optimizer's state belongs to the phase it was saved in; a new phase starts
            # a fresh optimizer at its own learning rate.
            same_phase = state.phase == phase
            checkpoints.restore(net, wrapper.optimizer if same_phase else None,
                                wrapper.trainable_variables)
            restored = True
        if state.phase != phase:
            state.phase, state.plateau_wait = phase, 0
        callback = EpochEnd(state=state, recipe=recipe, net=net, checkpoints=checkpoints,
                            tracker=tracker, last_phase=phase == phases[-1][0],
                            total_epochs=total, images_per_epoch=len(train_set.y))
        wrapper.fit(train_set.x, targets, batch_size=batch, epochs=end,
                    initial_epoch=state.epoch, validation_data=(val_set.x, val_targets),
                    class_weight=class_weight, shuffle=True, callbacks=[interrupts, callback],
                    verbose=1 if is_interactive() else 0)
        if state.stopped_early:
            print(f"train {recipe.backbone}: stopped early after epoch {state.epoch}: no "
                  f"better val accuracy for {recipe.train.early_stopping_patience} epochs",
                  flush=True)


def _finish_training(net: keras.Model, state: TrainState, recipe: Recipe, policy: str,
                     train_images: int, *, checkpoints: Checkpoints, tracker: TrackingService,
                     layout: Layout) -> dict[str, Any]:
    """Write the best epoch's model and the stage outputs, log them, end the run FINISHED."""
    from ferflow.models.zoo import count_params

    # The best epoch on the validation split is what gets saved, evaluated and registered.
    checkpoints.load_best(net)
    backbone = recipe.backbone
    metrics = {
        "backbone": backbone,
        "best_val_accuracy": state.best_val_accuracy,
        "best_epoch": state.best_epoch,
        "epochs_run": state.epoch,
        "stopped_early": state.stopped_early,
        "train_time_s": round(state.train_time_s, 3),
        "images_per_s": round(state.images_seen / state.train_time_s, 1)
        if state.train_time_s else 0.0,
        "params": count_params(net),
        "train_images": train_images,
        "precision": policy,
    }
    run_id = state.run_id
    write_outputs(net, state, metrics, tracker.ref(run_id), layout, backbone)
    tracker.log_metrics(run_id, {k: float(metrics[k]) for k in (
        "best_val_accuracy", "best_epoch", "epochs_run", "train_time_s", "images_per_s",
        "params")})
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
