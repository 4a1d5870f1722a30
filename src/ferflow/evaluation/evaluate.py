"""evaluate@<backbone>: test and validation metrics (with test-time augmentation), each with
its 95% bootstrap interval, the expected calibration error before and after the model's
temperature, the test split's slices and invariances, confusion matrix, reliability diagram,
mistakes and saliency pictures, all logged into the backbone's MLflow run and written for DVC.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from ferflow import EMOTIONS
from ferflow.config import EvaluateParams
from ferflow.data.arrays import Split, load_split
from ferflow.data.face_folders import FaceSet
from ferflow.data.lineage import read_lineage
from ferflow.evaluation.calibration import BINS, Reliability, at_temperature, reliability
from ferflow.evaluation.external import (
    describe_external,
    flat_external_metrics,
    score_external,
)
from ferflow.evaluation.intervals import CONFIDENCE, metric_intervals, resample_counts
from ferflow.evaluation.metrics import classification_metrics
from ferflow.evaluation.plots import (
    write_confusion_csv,
    write_confusion_png,
    write_misclassified_png,
    write_reliability_png,
)
from ferflow.evaluation.results import write_eval_metrics
from ferflow.evaluation.saliency import write_saliency_png
from ferflow.evaluation.slices import brightened, flat_slice_metrics, slice_report
from ferflow.layout import Layout
from ferflow.models.calibration import model_temperature
from ferflow.models.inference import (
    VIEWS_PER_MODE,
    flip,
    load_classifier,
    predict_probabilities,
    tta_probabilities,
)
from ferflow.progress import Progress
from ferflow.tracking.connect import log_into_run
from ferflow.tracking.run_ref import read_run_ref

ARTIFACT_DIR = "evaluation"
"""Folder of the run's artifacts that holds the evaluation files."""


def score_split(
    model: Any, split: Split, params: EvaluateParams, progress: Progress | None = None
) -> tuple[dict[str, Any], np.ndarray]:
    """Metrics of the plain prediction plus `accuracy_<mode>` / `macro_f1_<mode>` per TTA mode,
    each accuracy and macro-F1 with its 95% bootstrap interval (`<metric>_ci_low`,
    `<metric>_ci_high`), all modes on the same resampled images.

    Returns the metrics and the plain probabilities (N, classes).
    """
    def run(mode: str) -> np.ndarray:
        return tta_probabilities(model, split.x, mode, crop_size=params.ten_crop_size,
                                 batch_size=params.batch_size, progress=progress)

    counts = resample_counts(len(split.y), params.bootstrap.resamples, params.bootstrap.seed)
    plain = run("none")
    metrics = classification_metrics(split.y, plain.argmax(axis=1))
    metrics.update(metric_intervals(split.y, plain.argmax(axis=1), counts))
    for mode in params.tta:
        probs = plain if mode == "none" else run(mode)
        scored = classification_metrics(split.y, probs.argmax(axis=1))
        metrics[f"accuracy_{mode}"] = scored["accuracy"]
        metrics[f"macro_f1_{mode}"] = scored["macro_f1"]
        metrics.update(metric_intervals(split.y, probs.argmax(axis=1), counts, f"_{mode}"))
    return metrics, plain


def score_calibration(labels: np.ndarray, probabilities: np.ndarray, temperature: float
                      ) -> tuple[dict[str, float], Reliability, Reliability]:
    """ECE of the model's probabilities (`ece`) and of the same scores at T = 1
    (`ece_uncalibrated`), with the reliability data of both (uncalibrated first)."""
    after = reliability(labels, probabilities)
    before = (after if temperature == 1.0 else
              reliability(labels, at_temperature(probabilities, temperature)))
    return {"ece_uncalibrated": before.ece, "ece": after.ece}, before, after


def score_slices(
    model: Any, split: Split, metrics: dict[str, Any], plain: np.ndarray,
    params: EvaluateParams, progress: Progress | None = None,
) -> dict[str, Any]:
    """`slice_report` of a split from its metrics and plain probabilities: the model also
    predicts the mirrored faces and the faces brightened by `params.brightness_shift`."""
    def predicted(images: np.ndarray) -> np.ndarray:
        return predict_probabilities(model, images, params.batch_size, progress).argmax(axis=1)

    return slice_report(split.x, split.y, plain.argmax(axis=1), metrics["per_class"],
                        flipped=predicted(flip(split.x)),
                        brighter=predicted(brightened(split.x, params.brightness_shift)),
                        brightness_shift=params.brightness_shift)


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
    flat.update(flat_slice_metrics(result["slices"], "eval_test_"))
    flat.update(flat_external_metrics(result.get("external", {})))
    if "calibration" in result:
        flat["eval_calibration_temperature"] = result["calibration"]["temperature"]
    return flat


def evaluate_backbone(backbone: str, params: EvaluateParams, layout: Layout,
                      external: list[FaceSet] | None = None) -> dict[str, Any]:
    """Evaluate `backbone`'s trained model on val and test, and on the `external` data sets
    (`ferflow.serving.folder_faces.load_face_sets` of `params.external`); write its metrics,
    plot data and PNGs; log them into the backbone's MLflow run. Returns the metrics written."""
    external = external or []
    run = read_run_ref(layout.run_json(backbone))
    model = load_classifier(layout.model_file(backbone))
    val, test = (load_split(layout.arrays_dir, s) for s in ("val", "test"))

    views = 1 + sum(VIEWS_PER_MODE[m] for m in params.tta if m != "none")
    images = views * (len(val.y) + len(test.y)) + 2 * len(test.y)  # + the two slice views
    images += sum(len(s.y) for s in external)
    with Progress(images, f"evaluate {backbone}", "img") as progress:
        val_metrics, val_probs = score_split(model, val, params, progress)
        test_metrics, test_probs = score_split(model, test, params, progress)
        slices = score_slices(model, test, test_metrics, test_probs, params, progress)
        external_metrics = score_external(model, external, params.bootstrap, params.batch_size,
                                          progress)
    # The temperature was fitted on val, so only the test split's ECE is an unbiased estimate.
    temperature = model_temperature(model)
    val_ece, _, _ = score_calibration(val.y, val_probs, temperature)
    test_ece, before, after = score_calibration(test.y, test_probs, temperature)
    val_metrics.update(val_ece)
    test_metrics.update(test_ece)

    result: dict[str, Any] = {
        "backbone": backbone,
        "params": int(model.count_params()),
        "tta": list(params.tta),
        "bootstrap": {"confidence": CONFIDENCE, "resamples": params.bootstrap.resamples,
                      "seed": params.bootstrap.seed},
        "calibration": {"temperature": temperature, "bins": BINS, "fitted_on": "val"},
        "val": val_metrics,
        "test": test_metrics,
        "slices": {"split": "test", **slices},
        "external": external_metrics,
    }
    predicted = test_probs.argmax(axis=1)
    confusion_csv = layout.confusion_csv(backbone)
    confusion_png = layout.eval_plots(backbone) / "confusion_matrix.png"
    mistakes_png = layout.eval_plots(backbone) / "misclassified.png"
    reliability_png = layout.eval_plots(backbone) / "reliability.png"
    write_confusion_csv(confusion_csv, test.y, predicted, EMOTIONS)
    write_confusion_png(
        confusion_png, test.y, predicted,
        f"{backbone}: test split, accuracy {test_metrics['accuracy']:.3f}, "
        f"macro-F1 {test_metrics['macro_f1']:.3f}",
    )
    write_misclassified_png(mistakes_png, test.x[..., 0], test.y, test_probs,
                            f"{backbone}: test", limit=params.misclassified)
    write_reliability_png(reliability_png, [("T = 1 (uncalibrated)", before),
                                            (f"T = {temperature:.3g} (fitted on val)", after)],
                          f"{backbone}: test split reliability")
    pictures = [confusion_png, mistakes_png, reliability_png]
    if params.saliency:
        pictures.append(layout.eval_plots(backbone) / "saliency.png")
        write_saliency_png(pictures[-1], model, test, test_probs, params.saliency,
                           f"{backbone}: test", params.batch_size)
    with tempfile.TemporaryDirectory() as tmp:
        metrics_file = Path(tmp) / "metrics.json"
        metrics_file.write_text(json.dumps(result, indent=2, sort_keys=True))
        log_into_run(run, flat_run_metrics(result),
                     [*pictures, confusion_csv, metrics_file],
                     ARTIFACT_DIR,
                     read_lineage(layout))
    # Last: DVC and the register stage see the metrics only once everything else is in place.
    write_eval_metrics(layout, backbone, result)
    return result


def _with_interval(scores: dict[str, Any], key: str) -> str:
    return (f"{scores[key]:.4f} [{scores[f'{key}_ci_low']:.4f}, "
            f"{scores[f'{key}_ci_high']:.4f}]")


def describe_evaluation(result: dict[str, Any]) -> str:
    """One line per split: accuracy, each TTA mode's, macro-F1, with their 95% intervals; one
    line of the test split's slices."""
    lines = []
    for split in ("val", "test"):
        scores = result[split]
        extra = "".join(f", {mode} {_with_interval(scores, f'accuracy_{mode}')}"
                        for mode in result["tta"] if mode != "none")
        lines.append(f"{result['backbone']} {split}: accuracy "
                     f"{_with_interval(scores, 'accuracy')}{extra}, macro-F1 "
                     f"{_with_interval(scores, 'macro_f1')} ({scores['n']} images)")
    slices = result["slices"]
    test = result["test"]
    lines.append(f"{result['backbone']} test calibration: ECE {test['ece_uncalibrated']:.4f} → "
                 f"{test['ece']:.4f} at temperature {result['calibration']['temperature']:.3f}")
    lines.append(f"{result['backbone']} test slices: worst class {slices['worst_class']} "
                 f"(recall {slices['worst_class_recall']:.4f}), flip agreement "
                 f"{slices['flip_agreement']:.4f}, brightness {slices['brightness_shift']:+g} "
                 f"agreement {slices['brightness_agreement']:.4f}")
    lines += describe_external(result["backbone"], result.get("external", {}))
    return "\n".join(lines)
