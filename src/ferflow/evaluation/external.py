"""Scores on the external data sets (`evaluate.external`): how a model trained on FER2013 does
on faces from elsewhere (CK+, JAFFE, ...), with the plain prediction the served model makes.

Accuracy gets its 95% bootstrap interval (the evaluate stage's resamples and seed); macro-F1 and
recall count only the classes the data set has, since many have no folder of some emotion.
Images without a face are left out of the scores and counted as `no_face`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ferflow import EMOTIONS
from ferflow.config import BootstrapParams
from ferflow.data.face_folders import FaceSet
from ferflow.evaluation.intervals import metric_intervals, resample_counts
from ferflow.evaluation.metrics import classification_metrics
from ferflow.models.inference import predict_probabilities
from ferflow.progress import Progress


def score_face_set(model: Any, faces: FaceSet, bootstrap: BootstrapParams, batch_size: int,
                   progress: Progress | None = None) -> dict[str, Any]:
    """Accuracy with its interval, macro-F1 over the classes present, recall per class
    present, and where the faces came from (folder digest, images, no_face, ignored)."""
    predicted = predict_probabilities(model, faces.x, batch_size, progress).argmax(axis=1)
    scored = classification_metrics(faces.y, predicted)
    present = [name for name in EMOTIONS if scored["per_class"][name]["support"] > 0]
    intervals = metric_intervals(faces.y, predicted,
                                 resample_counts(len(faces.y), bootstrap.resamples,
                                                 bootstrap.seed))
    return {
        "accuracy": scored["accuracy"],
        "accuracy_ci_low": intervals["accuracy_ci_low"],
        "accuracy_ci_high": intervals["accuracy_ci_high"],
        "macro_f1": float(np.mean([scored["per_class"][c]["f1"] for c in present])),
        "recall": {c: scored["per_class"][c]["recall"] for c in present},
        "support": {c: scored["per_class"][c]["support"] for c in present},
        "images": faces.images,
        "faces": len(faces.y),
        "no_face": len(faces.no_face),
        "no_face_files": list(faces.no_face),
        "ignored": dict(faces.ignored),
        "path": faces.path,
        "crop": faces.crop,
        "sha256": faces.digest,
    }


def score_external(model: Any, sets: list[FaceSet], bootstrap: BootstrapParams,
                   batch_size: int, progress: Progress | None = None) -> dict[str, Any]:
    """`score_face_set` of every external data set, by name."""
    return {s.name: score_face_set(model, s, bootstrap, batch_size, progress) for s in sets}


def flat_external_metrics(external: dict[str, Any]) -> dict[str, float]:
    """MLflow names: `eval_external_<name>_<metric>`, recall as `..._recall_<class>`."""
    flat: dict[str, float] = {}
    for name, scores in external.items():
        prefix = f"eval_external_{name}_"
        for key in ("accuracy", "accuracy_ci_low", "accuracy_ci_high", "macro_f1", "images",
                    "faces", "no_face"):
            flat[prefix + key] = float(scores[key])
        flat.update({f"{prefix}recall_{c}": v for c, v in scores["recall"].items()})
    return flat


def describe_external(backbone: str, external: dict[str, Any]) -> list[str]:
    return [f"{backbone} external {name}: accuracy {s['accuracy']:.4f} "
            f"[{s['accuracy_ci_low']:.4f}, {s['accuracy_ci_high']:.4f}], macro-F1 "
            f"{s['macro_f1']:.4f} ({s['faces']} faces of {s['images']} images, "
            f"{s['no_face']} without a face)" for name, s in external.items()]
