from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from mlflow import MlflowClient
from params_data import params_tree, write_params

from ferflow.config import EvaluateParams
from ferflow.errors import FerflowError
from ferflow.evaluation.evaluate import evaluate_backbone
from ferflow.evaluation.metrics import classification_metrics
from ferflow.layout import Layout
from ferflow.models.inference import load_classifier, predict_probabilities
from ferflow.tracking.run_ref import read_run_ref

REPO = Path(__file__).resolve().parents[2]


def test_evaluate_writes_metrics_plots_and_logs_into_the_run(project, add_backbone) -> None:
    model_dir = add_backbone("cpu_net")
    layout = Layout(project)
    params = EvaluateParams(tta=("none", "flip", "ten_crop"), misclassified=6)

    result = evaluate_backbone("cpu_net", params, layout)

    written = json.loads(layout.eval_metrics("cpu_net").read_text())
    assert written == json.loads(json.dumps(result))
    assert written["params"] > 0
    test = np.load(project / "data" / "arrays" / "test.npz")
    probs = predict_probabilities(load_classifier(model_dir / "model.keras"), test["x"])
    expected = classification_metrics(test["y"].astype(int), probs.argmax(1))
    assert written["test"]["accuracy"] == pytest.approx(expected["accuracy"])
    assert written["test"]["n"] == 21 and written["val"]["n"] == 28
    for split in ("val", "test"):
        for mode in ("", "_none", "_flip", "_ten_crop"):
            for metric in ("accuracy", "macro_f1"):
                scores = written[split]
                name = f"{metric}{mode}"
                assert 0 <= scores[f"{name}_ci_low"] <= scores[name] <= scores[f"{name}_ci_high"]
    assert written["test"]["accuracy_none"] == written["test"]["accuracy"]
    assert written["bootstrap"] == {"confidence": 0.95, "resamples": 1000, "seed": 0}
    slices = written["slices"]
    assert slices["split"] == "test" and slices["brightness_shift"] == 16
    for measure in ("brightness", "contrast"):
        assert sum(b["n"] for b in slices[measure]["buckets"].values()) == 21
        assert len(slices[measure]["edges"]) == 2
    assert slices["worst_class_recall"] == min(
        c["recall"] for c in written["test"]["per_class"].values() if c["support"])
    assert len(layout.confusion_csv("cpu_net").read_text().splitlines()) == 22
    assert (layout.eval_plots("cpu_net") / "confusion_matrix.png").is_file()
    assert (layout.eval_plots("cpu_net") / "misclassified.png").is_file()
    assert (layout.eval_plots("cpu_net") / "reliability.png").read_bytes()[:4] == b"\x89PNG"
    assert (layout.eval_plots("cpu_net") / "saliency.png").read_bytes()[:4] == b"\x89PNG"
    # A model saved without a temperature is reported at T = 1: the same ECE twice.
    assert written["calibration"] == {"temperature": 1.0, "bins": 15, "fitted_on": "val"}
    for split in ("val", "test"):
        assert 0 <= written[split]["ece"] == written[split]["ece_uncalibrated"] <= 1

    run = read_run_ref(model_dir / "run.json")
    client = MlflowClient(run.tracking_uri)
    logged = client.get_run(run.run_id).data.metrics
    assert logged["eval_test_accuracy"] == pytest.approx(written["test"]["accuracy"])
    assert logged["eval_val_accuracy_flip"] == pytest.approx(written["val"]["accuracy_flip"])
    assert "eval_test_f1_disgust" in logged
    assert logged["eval_val_accuracy_ci_low"] == pytest.approx(written["val"]["accuracy_ci_low"])
    assert logged["eval_test_macro_f1_flip_ci_high"] == pytest.approx(
        written["test"]["macro_f1_flip_ci_high"])
    assert logged["eval_test_flip_agreement"] == pytest.approx(slices["flip_agreement"])
    assert "eval_test_accuracy_contrast_low" in logged
    assert logged["eval_test_ece"] == pytest.approx(written["test"]["ece"])
    assert logged["eval_test_ece_uncalibrated"] == pytest.approx(written["test"]["ece"])
    assert logged["eval_calibration_temperature"] == 1.0
    assert logged["val_accuracy"] == 0.1  # the training's own metric is left alone
    artifacts = {a.path for a in client.list_artifacts(run.run_id, "evaluation")}
    assert artifacts == {"evaluation/confusion_matrix.png", "evaluation/misclassified.png",
                         "evaluation/reliability.png", "evaluation/saliency.png",
                         "evaluation/cpu_net.csv", "evaluation/metrics.json"}


def test_a_temperature_changes_the_ece_and_no_accuracy(project, add_backbone) -> None:
    from ferflow.models.calibration import with_temperature

    model_dir = add_backbone("cpu_net", seed=3)
    layout = Layout(project)
    params = EvaluateParams(tta=("none", "flip"), misclassified=2)
    plain = evaluate_backbone("cpu_net", params, layout)
    model_file = model_dir / "model.keras"
    with_temperature(load_classifier(model_file), 0.05).save(model_file)

    scaled = evaluate_backbone("cpu_net", params, layout)

    assert scaled["calibration"]["temperature"] == 0.05
    for split in ("val", "test"):
        before, after = plain[split], scaled[split]
        for key in ("accuracy", "macro_f1", "accuracy_flip", "accuracy_ci_low", "per_class"):
            assert after[key] == before[key], key
        assert after["ece_uncalibrated"] == pytest.approx(before["ece"], abs=1e-6)
        # An untrained net is unsure of everything; dividing its scores by 0.05 makes it sure.
        assert after["ece"] > before["ece"] + 0.1


def test_missing_run_file_fails_before_writing_anything(project, add_backbone) -> None:
    model_dir = add_backbone("cpu_net")
    (model_dir / "run.json").unlink()
    layout = Layout(project)
    with pytest.raises(FerflowError, match="run.json: not found"):
        evaluate_backbone("cpu_net", EvaluateParams(), layout)
    assert not layout.eval_metrics("cpu_net").exists()


@pytest.mark.slow
def test_stage_script_reports_a_missing_model_without_traceback(tmp_path: Path) -> None:
    write_params(tmp_path / "params.yaml", params_tree(evaluate={"tta": ["flip"],
                                                                 "external": []}))
    (tmp_path / "models" / "net").mkdir(parents=True)
    (tmp_path / "models" / "net" / "run.json").write_text(
        json.dumps({"run_id": "x", "experiment_id": "0", "tracking_uri": "sqlite:///m.db"}))
    result = subprocess.run([sys.executable, str(REPO / "pipeline" / "evaluate.py"), "net"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert result.returncode == 2
    assert "ferflow: error: models/net/model.keras: model file not found" in result.stderr
    assert "Traceback" not in result.stderr
