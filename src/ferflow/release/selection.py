"""Model selection for the register stage: candidates from the evaluate outputs, an optional
ensemble of the best ones, the choice by *validation* accuracy (test is only reported), and the
champion gate: a paired bootstrap of the new model's gain over the champion on the same val
images."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ferflow.config import BootstrapParams
from ferflow.data.arrays import Split
from ferflow.errors import FerflowError
from ferflow.evaluation.intervals import (
    CONFIDENCE,
    metric_intervals,
    paired_difference,
    resample_counts,
)
from ferflow.evaluation.metrics import classification_metrics
from ferflow.evaluation.results import read_eval_metrics
from ferflow.layout import Layout
from ferflow.models.inference import load_classifier, predict_probabilities
from ferflow.tracking.model_registry import Verdict
from ferflow.training.outputs import read_train_metrics

ROUNDING = 1e-9
"""Slack when comparing a gain with `min_improvement` (accuracies are ratios of counts)."""


@dataclass(frozen=True)
class Robustness:
    """A backbone's slices and invariances on the test split (evaluate's `slices` section)."""

    worst_class: str
    worst_class_recall: float
    flip_agreement: float
    brightness_agreement: float
    brightness_shift: float
    slice_accuracy: dict[str, float | None]
    """Accuracy per tercile: `brightness_dark`, `brightness_mid`, ..., `contrast_high`."""
    slice_edges: dict[str, list[float]]
    """The tercile edges of `brightness` (mean pixel) and `contrast` (pixel std)."""


@dataclass(frozen=True)
class Candidate:
    """One model that can be registered: a backbone, or an ensemble of several."""

    name: str
    members: tuple[str, ...]
    val_accuracy: float
    val_macro_f1: float
    test_accuracy: float
    test_macro_f1: float
    params: int | None = None
    train_time_s: float | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    """Every reported metric, `<split>_<metric>[_<tta mode>]` (`val_accuracy`,
    `test_macro_f1_flip`, ...) and `external_<data set>_accuracy`, with its 95% bootstrap
    interval as `<name>_ci_low` and `<name>_ci_high`."""
    robustness: Robustness | None = None
    """None for an ensemble (slices are measured per backbone)."""

    @property
    def is_ensemble(self) -> bool:
        return len(self.members) > 1

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "members": list(self.members)}


def _reported_metrics(result: dict[str, Any]) -> dict[str, float]:
    reported = {f"{split}_{key}": float(value) for split in ("val", "test")
                for key, value in result[split].items() if key not in ("n", "per_class")}
    # evaluate.external's data sets: `external_<name>_accuracy` with its interval.
    for name, scores in result.get("external", {}).items():
        reported.update({f"external_{name}_{key}": float(scores[key]) for key in
                         ("accuracy", "accuracy_ci_low", "accuracy_ci_high", "macro_f1")})
    return reported


def _robustness(slices: dict[str, Any]) -> Robustness:
    measures = ("brightness", "contrast")
    return Robustness(
        worst_class=str(slices["worst_class"]),
        worst_class_recall=float(slices["worst_class_recall"]),
        flip_agreement=float(slices["flip_agreement"]),
        brightness_agreement=float(slices["brightness_agreement"]),
        brightness_shift=float(slices["brightness_shift"]),
        slice_accuracy={f"{m}_{bucket}": scores["accuracy"] for m in measures
                        for bucket, scores in slices[m]["buckets"].items()},
        slice_edges={m: [float(e) for e in slices[m]["edges"]] for m in measures},
    )


def load_candidate(backbone: str, layout: Layout) -> Candidate:
    """A backbone's candidate from its evaluation metrics (and its train metrics for the
    training time, when present)."""
    result = read_eval_metrics(layout, backbone)
    train = (read_train_metrics(layout, backbone)
             if layout.train_metrics(backbone).is_file() else {})
    train_time = float(train["train_time_s"]) if "train_time_s" in train else None
    try:
        return Candidate(
            name=backbone,
            members=(backbone,),
            val_accuracy=float(result["val"]["accuracy"]),
            val_macro_f1=float(result["val"]["macro_f1"]),
            test_accuracy=float(result["test"]["accuracy"]),
            test_macro_f1=float(result["test"]["macro_f1"]),
            params=result.get("params"),
            train_time_s=train_time,
            metrics=_reported_metrics(result),
            robustness=_robustness(result["slices"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise FerflowError(f"{layout.eval_metrics(backbone)}: missing {exc} in val/test "
                           f"metrics or slices; rerun evaluate@{backbone}") from None


def choose_best(candidates: list[Candidate]) -> Candidate:
    """Highest validation accuracy; ties go to higher validation macro-F1, then to the smaller
    model, then to the name. Test metrics play no part."""
    if not candidates:
        raise FerflowError("no candidates to choose from: list at least one backbone")

    def rank(c: Candidate) -> tuple[float, float, float, str]:
        size = c.params if c.params is not None else float("inf")
        return (-c.val_accuracy, -c.val_macro_f1, size, c.name)

    return min(candidates, key=rank)


def ensemble_probabilities(
    model_files: list[str | os.PathLike[str]], images: np.ndarray, batch_size: int = 256
) -> np.ndarray:
    """Mean of the members' class probabilities (the rule the registered ensemble applies)."""
    total = None
    for path in model_files:
        probs = predict_probabilities(load_classifier(path), images, batch_size)
        total = probs if total is None else total + probs
    assert total is not None
    return total / len(model_files)


def ensemble_candidate(
    candidates: list[Candidate],
    top_k: int,
    *,
    model_file: dict[str, Path],
    val: Split,
    test: Split,
    bootstrap: BootstrapParams,
    batch_size: int = 256,
) -> Candidate:
    """The mean of the `top_k` best single backbones (by validation accuracy), scored on the
    same val and test splits, with the same bootstrap intervals as the evaluate stage's."""
    singles = [c for c in candidates if not c.is_ensemble]
    if top_k > len(singles):
        raise FerflowError(f"register.ensemble_top_k is {top_k} but only {len(singles)} "
                           "backbones were evaluated; lower it or set 0 to turn ensembles off")
    ranked = sorted(singles, key=lambda c: (-c.val_accuracy, -c.val_macro_f1, c.name))
    members = tuple(c.name for c in ranked[:top_k])
    files = [model_file[m] for m in members]
    metrics = {}
    for name, split in (("val", val), ("test", test)):
        predicted = ensemble_probabilities(files, split.x, batch_size).argmax(axis=1)
        scored = classification_metrics(split.y, predicted)
        counts = resample_counts(len(split.y), bootstrap.resamples, bootstrap.seed)
        found = {"accuracy": scored["accuracy"], "macro_f1": scored["macro_f1"],
                 **metric_intervals(split.y, predicted, counts)}
        metrics.update({f"{name}_{key}": value for key, value in found.items()})
    sizes = [c.params for c in ranked[:top_k]]
    times = [c.train_time_s for c in ranked[:top_k]]
    return Candidate(
        name=f"ensemble({'+'.join(members)})",
        members=members,
        val_accuracy=metrics["val_accuracy"],
        val_macro_f1=metrics["val_macro_f1"],
        test_accuracy=metrics["test_accuracy"],
        test_macro_f1=metrics["test_macro_f1"],
        params=None if None in sizes else int(sum(sizes)),
        train_time_s=None if None in times else float(sum(times)),
        metrics=metrics,
    )


def champion_gate(
    y_val: np.ndarray,
    challenger: np.ndarray,
    champion: np.ndarray,
    *,
    min_improvement: float,
    bootstrap: BootstrapParams,
) -> Verdict:
    """Whether the challenger's predicted classes on the val images beat the champion's on the
    same images by more than the split's noise.

    A paired bootstrap resamples the val images and scores both models on each resample; the
    challenger wins when the 95% interval of its accuracy gain lies above 0 and the gain is
    at least `min_improvement` (the floor that still holds on a split so large that a tiny
    gain is beyond the noise). A tie never wins.
    """
    y_val = np.asarray(y_val)
    new_correct = np.asarray(challenger) == y_val
    old_correct = np.asarray(champion) == y_val
    counts = resample_counts(len(y_val), bootstrap.resamples, bootstrap.seed)
    gain = paired_difference(new_correct, old_correct, counts)
    beyond_noise = gain.low > 0
    meets_floor = gain.value > 0 and gain.value >= min_improvement - ROUNDING
    interval = f"95% paired bootstrap interval [{gain.low:+.4f}, {gain.high:+.4f}]"
    if beyond_noise and meets_floor:
        reason = (f"val accuracy gain {gain.value:+.4f}, {interval} above 0, and at least "
                  f"min_improvement {min_improvement:+.4f}")
    elif not beyond_noise:
        reason = (f"val accuracy gain {gain.value:+.4f}: its {interval} does not lie above 0, "
                  "so it is no gain beyond the val split's noise")
    else:
        reason = (f"val accuracy gain {gain.value:+.4f} ({interval}) is less than "
                  f"min_improvement {min_improvement:+.4f}")
    evidence = {
        "challenger_val_accuracy": float(new_correct.mean()),
        "champion_val_accuracy": float(old_correct.mean()),
        "gain": gain.value,
        "gain_ci_low": gain.low,
        "gain_ci_high": gain.high,
        "min_improvement": min_improvement,
        "confidence": CONFIDENCE,
        "resamples": bootstrap.resamples,
        "seed": bootstrap.seed,
        "val_images": len(y_val),
    }
    return Verdict(beyond_noise and meets_floor, float(old_correct.mean()), reason, evidence)
