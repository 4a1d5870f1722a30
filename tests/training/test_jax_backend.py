"""JAX is a tested backend: the real train and evaluate stage scripts under KERAS_BACKEND=jax,
tracking into a real SQLite MLflow store, on the tiny arrays.

The backend is fixed when keras is first imported, so the stages run as child processes on
JAX, with TensorFlow hidden from them (tests/keras_backends.py); this process keeps its own
backend, so a model trained on JAX is also shown to load under the suite's one.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import pytest
from keras_backends import backend_variables
from mlflow import MlflowClient
from params_data import params_tree, write_params
from training_data import start_train_stage, write_arrays

from ferflow.layout import Layout
from ferflow.models.inference import load_classifier, predict_probabilities

REPO = Path(__file__).resolve().parents[2]
EPOCHS = 2
ROWS = 48
"""Train and val (48 // 3 = 16) are whole batches of 16: one compiled step each, no second
one for a short last batch."""


@pytest.mark.slow
def test_train_then_evaluate_stages_run_on_the_jax_backend(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_arrays(tmp_path / "data" / "arrays", rows=ROWS)
    write_params(tmp_path / "params.yaml", params_tree(
        train={"backbones": ["cpu_net"], "epochs": EPOCHS, "batch_size": 16,
               "optimizer": "adam", "learning_rate": 0.003, "schedule": "plateau",
               "early_stopping_patience": 0, "augment": {"rotation": 0, "zoom": 0}},
        models={"cpu_net": {"width": 0.125, "dropout": 0.1}},
        evaluate={"tta": ["flip"], "misclassified": 4, "external": []},
        mlflow={"experiment": "jax"}))
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    for name, value in backend_variables("jax").items():  # the stages' environment
        monkeypatch.setenv(name, value)

    train = start_train_stage(tmp_path, uri, merge_output=True)
    output = train.communicate(timeout=600)[0]
    assert train.returncode == 0, output
    evaluate = subprocess.run([sys.executable, str(REPO / "pipeline" / "evaluate.py"),
                               "cpu_net"], cwd=tmp_path, capture_output=True, text=True,
                              timeout=600)
    assert evaluate.returncode == 0, evaluate.stdout + evaluate.stderr

    layout = Layout(tmp_path)
    trained = json.loads(layout.train_metrics("cpu_net").read_text())
    assert trained["epochs_run"] == EPOCHS and 0 <= trained["best_val_accuracy"] <= 1
    evaluated = json.loads(layout.eval_metrics("cpu_net").read_text())
    for split in ("val", "test"):
        assert 0 <= evaluated[split]["accuracy"] <= 1
        assert 0 <= evaluated[split]["accuracy_flip"] <= 1
    net = load_classifier(layout.model_file("cpu_net"))
    assert net.input_shape == (None, 48, 48, 1) and net.output_shape == (None, 7)
    probs = predict_probabilities(net, np.zeros((2, 48, 48, 1), "float32"))
    assert probs.shape == (2, 7) and np.allclose(probs.sum(axis=1), 1, atol=1e-5)

    run_id = json.loads(layout.run_json("cpu_net").read_text())["run_id"]
    client = MlflowClient(uri)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.tags["keras_backend"] == "jax"
    logged = run.data.metrics
    assert logged["best_val_accuracy"] == pytest.approx(trained["best_val_accuracy"])
    assert logged["eval_test_accuracy"] == pytest.approx(evaluated["test"]["accuracy"])
    assert logged["eval_val_accuracy_flip"] == pytest.approx(evaluated["val"]["accuracy_flip"])
    steps = [m.step for m in client.get_metric_history(run_id, "val_accuracy")]
    assert sorted(steps) == list(range(1, EPOCHS + 1))
    # The logged model pins the backend it was trained on: jax and the jaxlib it ran with.
    (model,) = client.search_logged_models([run.info.experiment_id])
    mlflow.set_tracking_uri(uri)
    local = Path(mlflow.artifacts.download_artifacts(model.model_uri, dst_path=str(tmp_path)))
    requirements = (local / "requirements.txt").read_text().split()
    assert {r.split("==")[0] for r in requirements} >= {"keras", "jax", "jaxlib", "mlflow"}
    assert not [r for r in requirements if r.startswith("tensorflow")]
