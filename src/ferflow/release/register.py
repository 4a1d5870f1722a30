"""register stage: choose the best candidate by validation accuracy, log it as a pyfunc model,
register a new version and move the `champion` / `challenger` aliases; write the leaderboard."""

from __future__ import annotations

from typing import Any

import numpy as np

from ferflow.atomic import write_json, write_text
from ferflow.config import BootstrapParams, RegisterParams
from ferflow.data.arrays import load_split
from ferflow.data.lineage import read_lineage
from ferflow.data.source_record import data_sha256
from ferflow.errors import FerflowError
from ferflow.layout import Layout
from ferflow.release.leaderboard import render_leaderboard, summary
from ferflow.release.model_card import model_card
from ferflow.release.selection import (
    Candidate,
    champion_gate,
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
    model_uri,
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
                  bootstrap: BootstrapParams, batch_size: int = 256) -> dict[str, Any]:
    """Run the register stage from the evaluate outputs under `layout`; returns the summary.
    `bootstrap` sets the intervals of an ensemble's metrics and of the champion gate."""
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
            val=val, test=test, bootstrap=bootstrap, batch_size=batch_size))
    best = choose_best(candidates)

    tracking_uri = runs[best.members[0]].tracking_uri
    registry = ModelRegistry(tracking_uri)
    logged = _log_model(best, runs, layout, registry)
    version = registry.register(
        params.model_name, logged, tags=_version_tags(best, logged.run_id, layout),
        description=model_card(best, len(candidates), read_lineage(layout),
                               git_commit(layout.root),
                               {m: registry.run_params(runs[m].run_id) for m in best.members}),
        model_description=MODEL_DESCRIPTION,
    )

    def predicted_on_val(uri: str) -> np.ndarray:
        return load_pyfunc(uri, tracking_uri).predict(val.x).to_numpy().argmax(axis=1)

    new_uri = model_uri(params.model_name, version=str(version.version))
    promotion = registry.promote_if_better(
        params.model_name, version.version, best.val_accuracy,
        judge=lambda champion_uri: champion_gate(
            val.y, predicted_on_val(new_uri), predicted_on_val(champion_uri),
            min_improvement=params.min_improvement, bootstrap=bootstrap))
    kept = ""
    if promotion.alias != CHAMPION and promotion.previous_champion is not None:
        kept = registry.version_tag(params.model_name, promotion.previous_champion, "candidate")
    write_text(layout.leaderboard, render_leaderboard(candidates, best, promotion, params, kept))
    result = summary(candidates, best, promotion, params)
    write_json(layout.summary, result)
    return result


def describe_release(result: dict[str, Any]) -> str:
    promotion = result["promotion"]
    return (f"selected {result['selected']} (val accuracy {result['val_accuracy']:.4f}, test "
            f"{result['test_accuracy']:.4f}) → {promotion['name']} version "
            f"{promotion['version']} as {promotion['alias']}: {promotion['reason']}")
