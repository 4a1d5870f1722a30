"""register stage: choose the best candidate by validation accuracy, log it as a pyfunc model,
register a new version and move the `champion` / `challenger` aliases; write the leaderboard."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlflow
from mlflow import MlflowClient

from ferflow.atomic import write_json, write_text
from ferflow.config import RegisterParams
from ferflow.errors import FerflowError
from ferflow.evaluation.evaluate import read_run_ref
from ferflow.evaluation.leaderboard import render_leaderboard, summary
from ferflow.evaluation.metrics import accuracy
from ferflow.evaluation.selection import (
    Candidate,
    choose_best,
    ensemble_candidate,
    load_candidate,
)
from ferflow.serving.pyfunc import log_emotion_model
from ferflow.tracking.mlflow_service import RunRef, git_commit
from ferflow.tracking.registry import CHAMPION, promote_if_better, register_version
from ferflow.training import data_sha256
from ferflow.training.loop import load_split

MODEL_DESCRIPTION = (
    "Facial-expression classifier for 48x48 grey faces (FER2013 labels: angry, disgust, fear, "
    "happy, sad, surprise, neutral). Input: base64 images or 48x48 pixel arrays; output: one "
    "probability column per emotion. Alias `champion` is the version in use."
)


def _version_tags(best: Candidate, run_id: str, root: Path) -> dict[str, Any]:
    return {
        "candidate": best.name,
        "backbone": "+".join(best.members),
        "val_accuracy": f"{best.val_accuracy:.4f}",
        "val_macro_f1": f"{best.val_macro_f1:.4f}",
        "test_accuracy": f"{best.test_accuracy:.4f}",
        "test_macro_f1": f"{best.test_macro_f1:.4f}",
        "git_commit": git_commit(root),
        "data_sha256": data_sha256(root / "data" / "raw" / "source.json"),
        "source_run_id": run_id,
    }


def _log_model(best: Candidate, runs: dict[str, RunRef], root: Path) -> tuple[str, Any]:
    """Log the pyfunc into the backbone's own run, or into a new run for an ensemble.

    Returns (run id, ModelInfo).
    """
    files = [root / "models" / m / "model.keras" for m in best.members]
    info = {"candidate": best.name, "members": list(best.members)}
    if not best.is_ensemble:
        run = runs[best.name]
        with mlflow.start_run(run_id=run.run_id):
            return run.run_id, log_emotion_model(files, info)
    lead = runs[best.members[0]]
    with mlflow.start_run(experiment_id=lead.experiment_id, run_name=best.name) as active:
        mlflow.set_tags({"ferflow.ensemble_members": ",".join(best.members),
                         **{f"ferflow.member_run.{m}": runs[m].run_id for m in best.members}})
        mlflow.log_metrics({"eval_val_accuracy": best.val_accuracy,
                            "eval_val_macro_f1": best.val_macro_f1,
                            "eval_test_accuracy": best.test_accuracy,
                            "eval_test_macro_f1": best.test_macro_f1})
        return active.info.run_id, log_emotion_model(files, info)


def register_best(
    backbones: list[str],
    params: RegisterParams,
    *,
    root: Path = Path("."),
    batch_size: int = 256,
) -> dict[str, Any]:
    """Run the register stage from the evaluate outputs under `root`; returns the summary."""
    if not backbones:
        raise FerflowError("no backbones to register: list at least one in params.yaml")
    candidates = [load_candidate(b, root) for b in backbones]
    runs = {b: read_run_ref(root / "models" / b / "run.json") for b in backbones}
    val = load_split(root / "data" / "arrays", "val")
    if params.ensemble_top_k:
        test = load_split(root / "data" / "arrays", "test")
        model_files = {b: root / "models" / b / "model.keras" for b in backbones}
        candidates.append(ensemble_candidate(candidates, params.ensemble_top_k,
                                             model_file=model_files, val=val, test=test,
                                             batch_size=batch_size))
    best = choose_best(candidates)

    tracking_uri = runs[best.members[0]].tracking_uri
    mlflow.set_tracking_uri(tracking_uri)
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    run_id, model_info = _log_model(best, runs, root)
    version = register_version(
        client,
        params.model_name,
        model_uri=model_info.model_uri,
        run_id=run_id,
        model_id=model_info.model_id,
        tags=_version_tags(best, run_id, root),
        description=(f"{best.name}: validation accuracy {best.val_accuracy:.4f} (chosen by it "
                     f"among {len(candidates)} candidates), test accuracy "
                     f"{best.test_accuracy:.4f}, macro-F1 {best.test_macro_f1:.4f}."),
        model_description=MODEL_DESCRIPTION,
    )

    def score_on_val(model_uri: str) -> float:
        model = mlflow.pyfunc.load_model(model_uri)
        return accuracy(val.y, model.predict(val.x).to_numpy())

    promotion = promote_if_better(client, params.model_name, version.version, best.val_accuracy,
                                  min_improvement=params.min_improvement,
                                  score_model=score_on_val)
    kept = ""
    if promotion.alias != CHAMPION and promotion.previous_champion is not None:
        old = client.get_model_version(params.model_name, promotion.previous_champion)
        kept = old.tags.get("candidate", "")
    write_text(root / "reports" / "leaderboard.md",
               render_leaderboard(candidates, best, promotion, kept))
    result = summary(candidates, best, promotion)
    write_json(root / "metrics" / "summary.json", result)
    return result
