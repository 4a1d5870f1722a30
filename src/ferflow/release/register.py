"""register stage: choose the best candidate by validation accuracy, log it as a pyfunc model,
register a new version and move the `champion` / `challenger` aliases; write the leaderboard."""

from __future__ import annotations

from typing import Any

from ferflow.atomic import write_json, write_text
from ferflow.config import RegisterParams
from ferflow.data.arrays import load_split
from ferflow.data.source_record import data_sha256
from ferflow.errors import FerflowError
from ferflow.evaluation.metrics import accuracy
from ferflow.layout import Layout
from ferflow.release.leaderboard import render_leaderboard, summary
from ferflow.release.selection import (
    Candidate,
    choose_best,
    ensemble_candidate,
    load_candidate,
)
from ferflow.serving.pyfunc import emotion_model_spec
from ferflow.tracking.model_registry import (
    CHAMPION,
    LoggedModel,
    ModelRegistry,
    load_pyfunc,
)
from ferflow.tracking.run_ref import RunRef, git_commit, read_run_ref

MODEL_DESCRIPTION = (
    "Facial-expression classifier for 48x48 grey faces (FER2013 labels: angry, disgust, fear, "
    "happy, sad, surprise, neutral). Input: base64 images or 48x48 pixel arrays; output: one "
    "probability column per emotion. Alias `champion` is the version in use."
)


def _version_tags(best: Candidate, run_id: str, layout: Layout) -> dict[str, Any]:
    return {
        "candidate": best.name,
        "backbone": "+".join(best.members),
        "val_accuracy": f"{best.val_accuracy:.4f}",
        "val_macro_f1": f"{best.val_macro_f1:.4f}",
        "test_accuracy": f"{best.test_accuracy:.4f}",
        "test_macro_f1": f"{best.test_macro_f1:.4f}",
        "git_commit": git_commit(layout.root),
        "data_sha256": data_sha256(layout.source_json),
        "source_run_id": run_id,
    }


def _log_model(best: Candidate, runs: dict[str, RunRef], layout: Layout,
               registry: ModelRegistry) -> LoggedModel:
    """Log the pyfunc into the backbone's own run, or into a new run for an ensemble."""
    spec = emotion_model_spec([layout.model_file(m) for m in best.members],
                              {"candidate": best.name, "members": list(best.members)})
    if not best.is_ensemble:
        return registry.log_into_run(runs[best.name].run_id, spec)
    tags = {"ferflow.ensemble_members": ",".join(best.members),
            **{f"ferflow.member_run.{m}": runs[m].run_id for m in best.members}}
    metrics = {"eval_val_accuracy": best.val_accuracy, "eval_val_macro_f1": best.val_macro_f1,
               "eval_test_accuracy": best.test_accuracy,
               "eval_test_macro_f1": best.test_macro_f1}
    return registry.log_in_new_run(runs[best.members[0]].experiment_id, best.name, tags,
                                   metrics, spec)


def register_best(backbones: list[str], params: RegisterParams, layout: Layout, *,
                  batch_size: int = 256) -> dict[str, Any]:
    """Run the register stage from the evaluate outputs under `layout`; returns the summary."""
    if not backbones:
        raise FerflowError("no backbones to register: list at least one in params.yaml")
    candidates = [load_candidate(b, layout) for b in backbones]
    runs = {b: read_run_ref(layout.run_json(b)) for b in backbones}
    val = load_split(layout.arrays_dir, "val")
    if params.ensemble_top_k:
        test = load_split(layout.arrays_dir, "test")
        candidates.append(ensemble_candidate(
            candidates, params.ensemble_top_k, model_file={b: layout.model_file(b)
                                                           for b in backbones},
            val=val, test=test, batch_size=batch_size))
    best = choose_best(candidates)

    tracking_uri = runs[best.members[0]].tracking_uri
    registry = ModelRegistry(tracking_uri)
    logged = _log_model(best, runs, layout, registry)
    version = registry.register(
        params.model_name, logged, tags=_version_tags(best, logged.run_id, layout),
        description=(f"{best.name}: validation accuracy {best.val_accuracy:.4f} (chosen by it "
                     f"among {len(candidates)} candidates), test accuracy "
                     f"{best.test_accuracy:.4f}, macro-F1 {best.test_macro_f1:.4f}."),
        model_description=MODEL_DESCRIPTION,
    )

    def score_on_val(model_uri: str) -> float:
        model = load_pyfunc(model_uri, tracking_uri)
        return accuracy(val.y, model.predict(val.x).to_numpy())

    promotion = registry.promote_if_better(params.model_name, version.version,
                                           best.val_accuracy,
                                           min_improvement=params.min_improvement,
                                           score_model=score_on_val)
    kept = ""
    if promotion.alias != CHAMPION and promotion.previous_champion is not None:
        kept = registry.version_tag(params.model_name, promotion.previous_champion, "candidate")
    write_text(layout.leaderboard, render_leaderboard(candidates, best, promotion, kept))
    result = summary(candidates, best, promotion)
    write_json(layout.summary, result)
    return result


def describe_release(result: dict[str, Any]) -> str:
    promotion = result["promotion"]
    return (f"selected {result['selected']} (val accuracy {result['val_accuracy']:.4f}, test "
            f"{result['test_accuracy']:.4f}) → {promotion['name']} version "
            f"{promotion['version']} as {promotion['alias']}: {promotion['reason']}")
