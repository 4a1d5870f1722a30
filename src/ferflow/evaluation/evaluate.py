"""evaluate@<backbone>: test and validation metrics (with test-time augmentation), confusion
matrix and mistakes pictures, all logged into the backbone's MLflow run and written for DVC.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ferflow import EMOTIONS
from ferflow.atomic import write_json
from ferflow.config import EvaluateParams
from ferflow.errors import FerflowError
from ferflow.evaluation.inference import VIEWS_PER_MODE, load_classifier, tta_probabilities
from ferflow.evaluation.metrics import classification_metrics
from ferflow.evaluation.plots import (
    write_confusion_csv,
    write_confusion_png,
    write_misclassified_png,
)
from ferflow.progress import Progress
from ferflow.tracking.mlflow_service import RunRef
from ferflow.tracking.store import retry_locked
from ferflow.training.loop import Split, load_split

ARTIFACT_DIR = "evaluation"
"""Folder of the run's artifacts that holds the evaluation files."""


def read_run_ref(path: str | os.PathLike[str]) -> RunRef:
    """Read `run.json`; raise FerflowError naming the file when it is missing or incomplete."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return RunRef(str(data["run_id"]), str(data["experiment_id"]), str(data["tracking_uri"]))
    except FileNotFoundError:
        raise FerflowError(f"{path}: not found; the train stage writes it (dvc repro)") from None
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise FerflowError(f"{path}: expected JSON with run_id, experiment_id and tracking_uri "
                           f"({exc!r}); rerun the train stage to rewrite it") from None


def score_split(
    model: Any, split: Split, params: EvaluateParams, progress: Progress | None = None
) -> tuple[dict[str, Any], np.ndarray]:
    """Metrics of the plain prediction plus `accuracy_<mode>` / `macro_f1_<mode>` per TTA mode.

    Returns the metrics and the plain probabilities (N, classes).
    """
    def run(mode: str) -> np.ndarray:
        return tta_probabilities(model, split.x, mode, crop_size=params.ten_crop_size,
                                 batch_size=params.batch_size, progress=progress)

    plain = run("none")
    metrics = classification_metrics(split.y, plain.argmax(axis=1))
    for mode in params.tta:
        probs = plain if mode == "none" else run(mode)
        scored = classification_metrics(split.y, probs.argmax(axis=1))
        metrics[f"accuracy_{mode}"] = scored["accuracy"]
        metrics[f"macro_f1_{mode}"] = scored["macro_f1"]
    return metrics, plain


def flat_run_metrics(result: dict[str, Any]) -> dict[str, float]:
    """MLflow metric names for an evaluation result: `eval_<split>_<name>`.

    The prefix keeps them apart from the per-epoch `val_accuracy` the training logs.
    """
    flat: dict[str, float] = {}
    for split in ("val", "test"):
        for key, value in result[split].items():
            if key == "per_class":
                for name, scores in value.items():
                    for score in ("precision", "recall", "f1"):
                        flat[f"eval_{split}_{score}_{name}"] = scores[score]
            elif key != "n":
                flat[f"eval_{split}_{key}"] = value
    return flat


def log_to_run(run: RunRef, metrics: dict[str, float], files: list[Path]) -> None:
    """Add metrics and artifact files to an existing (usually finished) MLflow run."""
    from mlflow import MlflowClient
    from mlflow.entities import Metric
    from mlflow.exceptions import MlflowException
    from mlflow.utils.time import get_current_time_millis

    client = MlflowClient(tracking_uri=run.tracking_uri)
    try:
        retry_locked(lambda: client.get_run(run.run_id))
    except MlflowException as exc:
        raise FerflowError(f"MLflow run {run.run_id} not found at {run.tracking_uri} "
                           f"({exc.message}); rerun the train stage so that run.json points "
                           "to an existing run") from None
    now = get_current_time_millis()
    batch = [Metric(k, float(v), now, 0) for k, v in sorted(metrics.items())]
    # log_batch takes at most 1000 metrics; ours are ~70. Retried: SQLite may be busy with
    # parallel stages.
    retry_locked(lambda: client.log_batch(run.run_id, metrics=batch))
    for path in files:
        retry_locked(lambda path=path: client.log_artifact(run.run_id, str(path), ARTIFACT_DIR))


@dataclass(frozen=True)
class EvaluationPaths:
    """Where evaluate@<backbone> writes (relative to the repository root in the stage)."""

    metrics: Path
    confusion_csv: Path
    plots_dir: Path

    @classmethod
    def for_backbone(cls, backbone: str, root: Path = Path(".")) -> EvaluationPaths:
        return cls(
            metrics=root / "metrics" / "eval" / f"{backbone}.json",
            confusion_csv=root / "plots" / "confusion" / f"{backbone}.csv",
            plots_dir=root / "plots" / "eval" / backbone,
        )


def evaluate_backbone(
    backbone: str,
    *,
    model_dir: Path,
    arrays_dir: Path,
    params: EvaluateParams,
    paths: EvaluationPaths,
    log_run: bool = True,
) -> dict[str, Any]:
    """Evaluate `model_dir/model.keras` on val and test; write metrics, plot data and PNGs; log
    them into the run of `model_dir/run.json`. Returns the metrics written."""
    from ferflow.models import count_params

    run = read_run_ref(model_dir / "run.json") if log_run else None
    model = load_classifier(model_dir / "model.keras")
    val, test = load_split(arrays_dir, "val"), load_split(arrays_dir, "test")

    views = 1 + sum(VIEWS_PER_MODE[m] for m in params.tta if m != "none")
    with Progress(views * (len(val.y) + len(test.y)), f"evaluate {backbone}", "img") as progress:
        val_metrics, _ = score_split(model, val, params, progress)
        test_metrics, test_probs = score_split(model, test, params, progress)

    result: dict[str, Any] = {
        "backbone": backbone,
        "params": count_params(model),
        "tta": list(params.tta),
        "val": val_metrics,
        "test": test_metrics,
    }
    predicted = test_probs.argmax(axis=1)
    confusion_png = paths.plots_dir / "confusion_matrix.png"
    mistakes_png = paths.plots_dir / "misclassified.png"
    write_confusion_csv(paths.confusion_csv, test.y, predicted, EMOTIONS)
    write_confusion_png(
        confusion_png, test.y, predicted,
        f"{backbone}: test split, accuracy {test_metrics['accuracy']:.3f}, "
        f"macro-F1 {test_metrics['macro_f1']:.3f}",
    )
    write_misclassified_png(mistakes_png, test.x[..., 0], test.y, test_probs,
                            f"{backbone}: test", limit=params.misclassified)
    if run is not None:
        with tempfile.TemporaryDirectory() as tmp:
            metrics_file = Path(tmp) / "metrics.json"
            metrics_file.write_text(json.dumps(result, indent=2, sort_keys=True))
            log_to_run(run, flat_run_metrics(result),
                       [confusion_png, mistakes_png, paths.confusion_csv, metrics_file])
    # Last: DVC and the register stage see the metrics only once everything else is in place.
    write_json(paths.metrics, result)
    return result
