"""train@<backbone>: fit one backbone on the train split, select on the validation split,
track it in MLflow, and write the stage outputs. Resumes an interrupted training."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import keras
import numpy as np

from ferflow import EMOTIONS, backend
from ferflow.atomic import atomic_path, write_json, write_text
from ferflow.config import Params, TrainParams
from ferflow.errors import FerflowError
from ferflow.progress import is_interactive
from ferflow.tracking.mlflow_service import (
    RunRef,
    TrackingService,
    dvc_experiment_name,
    git_commit,
)
from ferflow.training.augment import build_augmenter, training_model
from ferflow.training.checkpoint import Checkpoints, TrainState
from ferflow.training.recipe import (
    Recipe,
    balanced_class_weights,
    learning_rate_for,
    make_optimizer,
    recipe_for,
)

if TYPE_CHECKING:
    from ferflow.models import BuiltModel

CURVES = ("loss", "accuracy", "val_loss", "val_accuracy")
"""Per-epoch values in history.json, the plot CSV and MLflow (besides learning_rate)."""


@dataclass(frozen=True)
class Split:
    x: np.ndarray
    """(N, 48, 48, 1) float32 raw pixels 0..255."""
    y: np.ndarray
    """(N,) int labels."""


def load_split(arrays_dir: Path, split: str) -> Split:
    """`<arrays_dir>/<split>.npz` from the preprocess stage."""
    path = arrays_dir / f"{split}.npz"
    try:
        with np.load(path) as data:
            x, y = data["x"], data["y"]
    except FileNotFoundError:
        raise FerflowError(f"{path}: not found; the preprocess stage writes it "
                           "(dvc repro preprocess)") from None
    except (KeyError, ValueError, OSError) as exc:
        raise FerflowError(f"{path}: not a preprocess arrays file with x and y ({exc}); "
                           "rerun the preprocess stage") from None
    if len(y) == 0 or x.shape[1:] != (48, 48) or len(x) != len(y):
        raise FerflowError(f"{path}: expected x (N, 48, 48) and y (N,) with N > 0, got x "
                           f"{x.shape} and y {y.shape}; rerun the preprocess stage")
    return Split(x.astype("float32")[..., None], y.astype(np.int64))


@dataclass(frozen=True)
class TrainPaths:
    """Where train@<backbone> writes, relative to the working copy being run."""

    model_dir: Path
    metrics: Path
    plot_csv: Path
    plot_png: Path
    resume_dir: Path

    @classmethod
    def for_backbone(cls, backbone: str, root: Path = Path(".")) -> TrainPaths:
        return cls(
            model_dir=root / "models" / backbone,
            metrics=root / "metrics" / "train" / f"{backbone}.json",
            plot_csv=root / "plots" / "train" / f"{backbone}.csv",
            plot_png=root / "plots" / "train" / f"{backbone}.png",
            resume_dir=root / ".ferflow" / "resume" / backbone,
        )


def data_sha256(source_json: Path) -> str:
    """The raw data's sha256 from the download stage's `source.json` ("unknown" without it)."""
    try:
        return str(json.loads(source_json.read_text(encoding="utf-8"))["sha256"])
    except (FileNotFoundError, KeyError, json.JSONDecodeError):
        return "unknown"


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fingerprint(recipe: Recipe, arrays: list[Path], tracking: str) -> str:
    """What a checkpoint must match to be resumed: the effective recipe, the data, the store."""
    parts = {"recipe": recipe.flat(), "tracking": tracking,
             "data": [_file_digest(p) for p in arrays]}
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


class EpochEnd(keras.callbacks.Callback):
    """After each epoch: record history, track the best val accuracy, lower the learning rate
    on a plateau, stop early, checkpoint, then log the epoch to MLflow (in that order, so a
    resumed run re-logs nothing and `_sync_logged_epochs` fills what a kill skipped)."""

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
        state, train = self.state, self.recipe.train
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

        improved = values["val_accuracy"] > state.best_val_accuracy
        if improved:
            state.best_val_accuracy, state.best_epoch = values["val_accuracy"], state.epoch
            state.since_best = state.plateau_wait = 0
        else:
            state.since_best += 1
            state.plateau_wait += 1
        if train.schedule == "plateau" and state.plateau_wait >= train.plateau_patience:
            # Down to min_learning_rate, never up to it when the recipe starts lower.
            if values["learning_rate"] > train.min_learning_rate:
                optimizer.learning_rate = max(values["learning_rate"] * train.plateau_factor,
                                              train.min_learning_rate)
            state.plateau_wait = 0
        patience = train.early_stopping_patience
        if self.last_phase and patience and state.since_best >= patience:
            state.stopped_early = True
            self.model.stop_training = True

        self.checkpoints.save(state, self.net, optimizer, improved)
        self.tracker.log_epoch(state.run_id, state.epoch, values)
        if not is_interactive():
            print(f"train {self.recipe.backbone} epoch {state.epoch}/{self.total_epochs}: "
                  f"loss {values['loss']:.4f}, accuracy {values['accuracy']:.4f}, val_loss "
                  f"{values['val_loss']:.4f}, val_accuracy {values['val_accuracy']:.4f}, lr "
                  f"{values['learning_rate']:.3g} ({elapsed:.1f} s)"
                  + (", best so far" if improved else ""), flush=True)


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
    from ferflow.models import create_model

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


def train_backbone(
    backbone: str,
    params: Params,
    *,
    arrays_dir: Path,
    paths: TrainPaths,
    tracker: TrackingService,
    data_sha: str = "unknown",
) -> dict[str, Any]:
    """Train `backbone` with its effective recipe and write every output; returns the metrics
    written to `paths.metrics`. A checkpoint in `paths.resume_dir` made with the same settings
    and data is resumed, continuing the same MLflow run. Once the run is started or resumed,
    any failure ends it FAILED (its checkpoint stays, so a rerun still resumes it)."""
    from ferflow.models import available_models

    recipe = recipe_for(params, backbone, available_models())
    train_set, val_set = load_split(arrays_dir, "train"), load_split(arrays_dir, "val")
    policy = backend.configure_precision(recipe.train.mixed_precision)
    # Built before any run exists: a missing or broken weights file stops here, not in a run.
    built, wrapper = build_for_training(recipe)

    checkpoints = Checkpoints(paths.resume_dir)
    stamp = fingerprint(recipe, [arrays_dir / "train.npz", arrays_dir / "val.npz"],
                        tracker.tracking_uri)
    state = checkpoints.load(stamp)
    previous = state.run_id if state else checkpoints.run_for(stamp)
    if previous is not None and tracker.resume_run(previous):
        run_id, new_run = previous, False
    else:
        run_id, new_run = tracker.start_run(backbone, run_tags(recipe, data_sha, policy)), True
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
        _fit_phases(recipe, built, wrapper, state=state, checkpoints=checkpoints,
                    tracker=tracker, train_set=train_set, val_set=val_set)
        metrics = _finish_training(built.model, state, recipe, policy, len(train_set.y),
                                   checkpoints=checkpoints, tracker=tracker, paths=paths)
    checkpoints.clear()
    return metrics


def _fit_phases(recipe: Recipe, built: BuiltModel, wrapper: keras.Model, *, state: TrainState,
                checkpoints: Checkpoints, tracker: TrackingService, train_set: Split,
                val_set: Split) -> None:
    """Fit every phase of the recipe from `state` on (a resumed state skips what it did)."""
    from ferflow.models import set_training_phase

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
                    class_weight=class_weight, shuffle=True, callbacks=[callback],
                    verbose=1 if is_interactive() else 0)
        if state.stopped_early:
            print(f"train {recipe.backbone}: stopped early after epoch {state.epoch}: no "
                  f"better val accuracy for {recipe.train.early_stopping_patience} epochs",
                  flush=True)


def _finish_training(net: keras.Model, state: TrainState, recipe: Recipe, policy: str,
                     train_images: int, *, checkpoints: Checkpoints, tracker: TrackingService,
                     paths: TrainPaths) -> dict[str, Any]:
    """Write the best epoch's model and the stage outputs, log them, end the run FINISHED."""
    from ferflow.models import count_params

    # The best epoch on the validation split is what gets saved, evaluated and registered.
    checkpoints.load_best(net)
    metrics = {
        "backbone": recipe.backbone,
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
    write_outputs(net, state, metrics, tracker.ref(run_id), paths)
    tracker.log_metrics(run_id, {k: float(metrics[k]) for k in (
        "best_val_accuracy", "best_epoch", "epochs_run", "train_time_s", "images_per_s",
        "params")})
    tracker.log_artifact(run_id, paths.plot_png, "training")
    tracker.log_artifact(run_id, paths.model_dir / "history.json", "training")
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


def history_record(state: TrainState) -> dict[str, Any]:
    """history.json: per-epoch curves plus where the best epoch was."""
    return {
        "epoch": list(range(1, state.epoch + 1)),
        **{k: state.history.get(k, []) for k in (*CURVES, "learning_rate", "phase")},
        "best_epoch": state.best_epoch,
        "best_val_accuracy": state.best_val_accuracy,
        "stopped_early": state.stopped_early,
    }


def write_outputs(net: keras.Model, state: TrainState, metrics: dict[str, Any], run: RunRef,
                  paths: TrainPaths) -> None:
    """models/<b>/ as one directory rename, then plots, then the metrics file last."""
    history = history_record(state)
    with atomic_path(paths.model_dir, directory=True) as tmp:
        net.save(tmp / "model.keras")
        (tmp / "history.json").write_text(json.dumps(history, indent=2) + "\n", encoding="utf-8")
        (tmp / "run.json").write_text(json.dumps(run.as_dict(), indent=2) + "\n",
                                      encoding="utf-8")
    write_text(paths.plot_csv, curves_csv(history))
    write_learning_curves(paths.plot_png, history, f"{metrics['backbone']}: best val accuracy "
                          f"{metrics['best_val_accuracy']:.3f} at epoch {metrics['best_epoch']}")
    write_json(paths.metrics, metrics)


def curves_csv(history: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["epoch", *CURVES])
    for i, epoch in enumerate(history["epoch"]):
        writer.writerow([epoch, *(f"{history[k][i]:.6f}" for k in CURVES)])
    return out.getvalue()


def write_learning_curves(path: Path, history: dict[str, Any], title: str) -> None:
    """Loss and accuracy per epoch, train and validation, as a PNG (matplotlib, no display)."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(9, 3.6), layout="constrained")
    epochs = history["epoch"]
    for axis, key in zip(figure.subplots(1, 2), ("loss", "accuracy"), strict=True):
        axis.plot(epochs, history[key], label="train")
        axis.plot(epochs, history[f"val_{key}"], label="validation")
        axis.axvline(history["best_epoch"], color="grey", linestyle=":", label="best epoch")
        axis.set_xlabel("epoch")
        axis.set_ylabel(key)
        axis.legend()
    figure.suptitle(title)
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=100)


def describe_run(metrics: dict[str, Any]) -> str:
    return (f"{metrics['backbone']}: best val accuracy {metrics['best_val_accuracy']:.4f} at "
            f"epoch {metrics['best_epoch']}/{metrics['epochs_run']}, "
            f"{metrics['train_time_s']:.1f} s, {metrics['images_per_s']:.0f} images/s")

