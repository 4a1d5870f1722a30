"""The train@<backbone> stage's outputs: `models/<b>/` (model.keras, history.json, run.json),
`metrics/train/<b>.json` and the learning curves `plots/train/<b>.{csv,png}`. Written here
after training, read here by the release step."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import keras

from ferflow.atomic import atomic_path, read_stage_json, write_json, write_text
from ferflow.layout import Layout
from ferflow.tracking.run_ref import RunRef
from ferflow.training.state import TrainState

CURVES = ("loss", "accuracy", "val_loss", "val_accuracy")
"""Per-epoch values in history.json, the plot CSV and MLflow (besides learning_rate)."""


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
                  layout: Layout, backbone: str) -> None:
    """models/<b>/ as one directory rename, then plots, then the metrics file last."""
    history = history_record(state)
    model_dir = layout.model_dir(backbone)
    with atomic_path(model_dir, directory=True) as tmp:
        net.save(tmp / layout.model_file(backbone).name)
        (tmp / layout.history(backbone).name).write_text(
            json.dumps(history, indent=2) + "\n", encoding="utf-8")
        (tmp / layout.run_json(backbone).name).write_text(
            json.dumps(run.as_dict(), indent=2) + "\n", encoding="utf-8")
    write_text(layout.curves_csv(backbone), curves_csv(history))
    write_learning_curves(layout.curves_png(backbone), history,
                          f"{backbone}: best val accuracy {metrics['best_val_accuracy']:.3f} at "
                          f"epoch {metrics['best_epoch']}")
    write_json(layout.train_metrics(backbone), metrics)


def read_train_metrics(layout: Layout, backbone: str) -> dict[str, Any]:
    """`metrics/train/<b>.json`; FerflowError naming the file when it is missing or broken."""
    return read_stage_json(layout.train_metrics(backbone), f"train@{backbone}")


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
            f"{metrics['train_time_s']:.1f} s, {metrics['images_per_s']:.0f} images/s"
            + (f", calibration temperature {metrics['calibration_temperature']:.3f} (val NLL "
               f"{metrics['val_nll_uncalibrated']:.4f} → {metrics['val_nll']:.4f})"
               if "calibration_temperature" in metrics else ""))
