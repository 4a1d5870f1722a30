"""The register stage's library on a tiny project: real evaluate outputs, real MLflow runs,
real registry (SQLite) and real pyfunc models."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import numpy as np
import pytest
from mlflow import MlflowClient

from ferflow import EMOTIONS
from ferflow.config import BootstrapParams, EvaluateParams, RegisterParams
from ferflow.errors import FerflowError
from ferflow.evaluation.evaluate import evaluate_backbone
from ferflow.layout import Layout
from ferflow.models.inference import load_classifier, predict_probabilities
from ferflow.release.leaderboard import robustness_flags
from ferflow.release.register import register_best
from ferflow.release.selection import Candidate, Robustness, choose_best
from ferflow.serving.pyfunc import unwrap

FAST = EvaluateParams(tta=("none",), misclassified=4)
BOOTSTRAP = BootstrapParams()


def labels(counts: dict[int, int]) -> np.ndarray:
    return np.concatenate([np.full(n, k) for k, n in counts.items()])


@pytest.fixture
def set_split(write_split):
    """Write a split whose labels have the given class counts (random faces)."""

    def write(project: Path, split: str, counts: dict[int, int]) -> None:
        y = labels(counts)
        x = np.random.default_rng(len(y)).integers(0, 256, (len(y), 48, 48))
        write_split(project, split, x, y)

    return write


def evaluate_all(project: Path, names: list[str]) -> None:
    for name in names:
        evaluate_backbone(name, FAST, Layout(project))


def test_choose_best_uses_validation_even_when_test_disagrees() -> None:
    a = Candidate("a", ("a",), val_accuracy=0.70, val_macro_f1=0.6, test_accuracy=0.50,
                  test_macro_f1=0.4)
    b = Candidate("b", ("b",), val_accuracy=0.65, val_macro_f1=0.7, test_accuracy=0.90,
                  test_macro_f1=0.9)
    assert choose_best([b, a]).name == "a"
    # Ties on val accuracy go to val macro-F1, then to the smaller model.
    c = Candidate("c", ("c",), 0.70, 0.65, 0.1, 0.1, params=10)
    d = Candidate("d", ("d",), 0.70, 0.65, 0.2, 0.2, params=5)
    assert choose_best([a, c, d]).name == "d"
    with pytest.raises(FerflowError, match="no candidates"):
        choose_best([])


def test_register_promotes_by_validation_and_rescored_champion(
    project: Path, add_backbone, set_split, tracking_uri: str
) -> None:
    add_backbone("a", predicts=3)
    add_backbone("b", predicts=5)
    set_split(project, "val", {3: 20, 5: 8})   # a wins on validation...
    set_split(project, "test", {3: 6, 5: 15})  # ...b on test, which must not matter
    evaluate_all(project, ["a", "b"])
    params = RegisterParams(model_name="faces", min_improvement=0.01)

    first = register_best(["a", "b"], params, Layout(project), bootstrap=BOOTSTRAP)
    assert (first["selected"], first["version"], first["alias"]) == ("a", "1", "champion")
    assert first["test_accuracy"] < first["candidates"]["b"]["test_accuracy"]
    assert first["val_accuracy_ci_low"] < 20 / 28 < first["val_accuracy_ci_high"]
    assert json.loads((project / "metrics" / "summary.json").read_text()) == first
    board = (project / "reports" / "leaderboard.md").read_text()
    low, high = first["val_accuracy_ci_low"], first["val_accuracy_ci_high"]
    assert f"| a | 0.7143 [{low:.4f}, {high:.4f}] |" in board
    assert "**selected** → v1, **champion**" in board and "| b | 0.2857 [" in board
    # Each predicts one class: the other's recall is 0 → flagged; a constant answer survives
    # any flip.
    assert first["candidates"]["a"]["flags"] == ["surprise recall 0.000 < 0.1"]
    assert "| a | surprise (0.000) | 1.000 | 1.000 |" in board
    assert "## Champion gate" not in board  # the first version had no champion to beat
    ece = first["candidates"]["a"]["metrics"]["test_ece"]  # models saved without a temperature
    assert first["candidates"]["a"]["metrics"]["test_ece_uncalibrated"] == ece
    assert f"| {ece:.3f} → {ece:.3f} |" in board

    client = MlflowClient(tracking_uri)
    version = client.get_model_version("faces", "1")
    assert version.tags["backbone"] == "a"
    assert version.tags["val_accuracy"] == "0.7143"
    assert version.tags["data_sha256"] == "ab" * 32
    assert version.tags["git_commit"]
    assert "validation accuracy 0.7143" in version.description
    run_a = json.loads((project / "models" / "a" / "run.json").read_text())["run_id"]
    assert version.run_id == run_a
    served = mlflow.pyfunc.load_model("models:/faces@champion")
    out = served.predict(np.zeros((2, 48, 48), dtype=np.uint8))
    assert list(out.columns) == list(EMOTIONS)
    assert out.to_numpy().argmax(axis=1).tolist() == [3, 3]

    # New validation data: the champion (a) scores 8/28 on it, b 20/28 → b takes the alias.
    set_split(project, "val", {3: 8, 5: 20})
    evaluate_all(project, ["a", "b"])
    second = register_best(["a", "b"], params, Layout(project), bootstrap=BOOTSTRAP)
    assert (second["selected"], second["version"], second["alias"]) == ("b", "2", "champion")
    assert second["promotion"]["previous_champion"] == "1"
    assert second["promotion"]["previous_champion_val_accuracy"] == pytest.approx(8 / 28)
    gate = second["promotion"]["gate"]  # both served models scored on the same 28 images
    assert gate["challenger_val_accuracy"] == pytest.approx(20 / 28)
    assert gate["gain"] == pytest.approx(12 / 28)
    assert 0 < gate["gain_ci_low"] < gate["gain"] < gate["gain_ci_high"]
    assert "## Champion gate" in (project / "reports" / "leaderboard.md").read_text()

    # Nothing changed: the new version only ties the champion → challenger.
    third = register_best(["a", "b"], params, Layout(project), bootstrap=BOOTSTRAP)
    assert (third["selected"], third["version"], third["alias"]) == ("b", "3", "challenger")
    assert third["promotion"]["gate"]["gain"] == 0.0
    assert "no gain beyond the val split's noise" in third["promotion"]["reason"]
    assert third["champion_version"] == "2"
    assert str(client.get_model_version_by_alias("faces", "champion").version) == "2"
    assert str(client.get_model_version_by_alias("faces", "challenger").version) == "3"
    board = (project / "reports" / "leaderboard.md").read_text()
    assert "**selected** → v3, **challenger**" in board
    assert "The champion stays version 2 (b)" in board


def test_ensemble_candidate_competes_and_registers_as_one_model(
    project: Path, add_backbone, write_split, tracking_uri: str
) -> None:
    add_backbone("a", seed=1)
    add_backbone("b", seed=2)
    members = [load_classifier(project / "models" / n / "model.keras") for n in ("a", "b")]
    for split in ("val", "test"):
        x = np.load(project / "data" / "arrays" / f"{split}.npz")["x"]
        mean = sum(predict_probabilities(m, x) for m in members) / 2
        write_split(project, split, x, mean.argmax(axis=1))  # the ensemble is right everywhere
    evaluate_all(project, ["a", "b"])
    singles = [json.loads((project / "metrics" / "eval" / f"{n}.json").read_text())
               for n in ("a", "b")]
    assert max(s["val"]["accuracy"] for s in singles) < 1.0, "members must differ from the mean"

    result = register_best(["a", "b"], RegisterParams(model_name="ens", ensemble_top_k=2),
                           Layout(project), bootstrap=BOOTSTRAP)
    assert result["selected"].startswith("ensemble(") and result["val_accuracy"] == 1.0
    assert result["val_accuracy_ci_low"] == result["val_accuracy_ci_high"] == 1.0
    assert result["candidates"][result["selected"]]["flags"] == []  # no slices for ensembles
    assert sorted(result["members"]) == ["a", "b"]
    served = mlflow.pyfunc.load_model("models:/ens@champion")
    assert len(unwrap(served).models) == 2
    x = np.load(project / "data" / "arrays" / "val.npz")["x"]
    np.testing.assert_allclose(served.predict(x).to_numpy(),
                               sum(predict_probabilities(m, x) for m in members) / 2, rtol=1e-5)
    run = MlflowClient(tracking_uri).get_run(
        MlflowClient(tracking_uri).get_model_version("ens", "1").run_id)
    assert run.data.tags["ferflow.ensemble_members"] in ("a,b", "b,a")


def test_too_large_ensemble_is_a_clear_error(project: Path, add_backbone) -> None:
    add_backbone("a", predicts=3)
    evaluate_all(project, ["a"])
    with pytest.raises(FerflowError, match="ensemble_top_k is 2 but only 1 backbones"):
        register_best(["a"], RegisterParams(ensemble_top_k=2), Layout(project),
                      bootstrap=BOOTSTRAP)


def test_flags_name_the_worst_class_and_a_flip_sensitive_backbone() -> None:
    robustness = Robustness(worst_class="disgust", worst_class_recall=0.05, flip_agreement=0.7,
                            brightness_agreement=0.9, brightness_shift=16,
                            slice_accuracy={}, slice_edges={})
    c = Candidate("net", ("net",), 0.7, 0.6, 0.7, 0.6, robustness=robustness)
    assert robustness_flags(c, RegisterParams(min_class_recall=0.1, min_flip_agreement=0.8)) == [
        "disgust recall 0.050 < 0.1", "flip agreement 0.700 < 0.8"]
    assert robustness_flags(c, RegisterParams(min_class_recall=0.05,
                                              min_flip_agreement=0.7)) == []


def test_leaderboard_shows_each_backbones_test_ece_before_and_after_calibration() -> None:
    from ferflow.release.leaderboard import render_leaderboard
    from ferflow.tracking.model_registry import Promotion

    net = Candidate("net", ("net",), 0.7, 0.6, 0.7, 0.6,
                    metrics={"test_ece_uncalibrated": 0.2134, "test_ece": 0.0412})
    ensemble = Candidate("ensemble(net+old)", ("net", "old"), 0.6, 0.5, 0.6, 0.5)
    promotion = Promotion("faces", "1", "champion", 0.7, None, None, "first version")
    board = render_leaderboard([net, ensemble], net, promotion, RegisterParams())
    assert "| test macro-F1 | test ECE | params |" in board
    assert "| 0.6000 | 0.213 → 0.041 | - |" in board
    assert "| ensemble(net+old) | 0.6000 | 0.5000 | 0.6000 | 0.5000 | - | - |" in board
