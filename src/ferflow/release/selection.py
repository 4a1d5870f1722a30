"""Model selection for the register stage: candidates from the evaluate outputs, an optional
ensemble of the best ones, and the choice by *validation* accuracy (test is only reported)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ferflow.data.arrays import Split
from ferflow.errors import FerflowError
from ferflow.evaluation.metrics import classification_metrics
from ferflow.evaluation.results import read_eval_metrics
from ferflow.layout import Layout
from ferflow.models.inference import load_classifier, predict_probabilities
from ferflow.training.outputs import read_train_metrics


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

    @property
    def is_ensemble(self) -> bool:
        return len(self.members) > 1

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "members": list(self.members)}


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
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise FerflowError(f"{layout.eval_metrics(backbone)}: missing {exc} in val/test "
                           f"metrics; rerun evaluate@{backbone}") from None


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
    batch_size: int = 256,
) -> Candidate:
    """The mean of the `top_k` best single backbones (by validation accuracy), scored on the
    same val and test splits."""
    singles = [c for c in candidates if not c.is_ensemble]
    if top_k > len(singles):
        raise FerflowError(f"register.ensemble_top_k is {top_k} but only {len(singles)} "
                           "backbones were evaluated; lower it or set 0 to turn ensembles off")
    ranked = sorted(singles, key=lambda c: (-c.val_accuracy, -c.val_macro_f1, c.name))
    members = tuple(c.name for c in ranked[:top_k])
    files = [model_file[m] for m in members]
    val_m = classification_metrics(
        val.y, ensemble_probabilities(files, val.x, batch_size).argmax(axis=1))
    test_m = classification_metrics(
        test.y, ensemble_probabilities(files, test.x, batch_size).argmax(axis=1))
    sizes = [c.params for c in ranked[:top_k]]
    times = [c.train_time_s for c in ranked[:top_k]]
    return Candidate(
        name=f"ensemble({'+'.join(members)})",
        members=members,
        val_accuracy=val_m["accuracy"],
        val_macro_f1=val_m["macro_f1"],
        test_accuracy=test_m["accuracy"],
        test_macro_f1=test_m["macro_f1"],
        params=None if None in sizes else int(sum(sizes)),
        train_time_s=None if None in times else float(sum(times)),
    )
