"""A real tiny training: outputs on disk, and the MLflow run read back from a SQLite store."""

from __future__ import annotations

import json
from pathlib import Path

import keras
import mlflow
import numpy as np
import pytest
from mlflow import MlflowClient
from mlflow.entities import Run
from training_data import tiny_params, write_arrays

from ferflow.config import MlflowParams
from ferflow.data.arrays import load_split
from ferflow.layout import Layout
from ferflow.tracking.mlflow_service import TrackingService
from ferflow.training.loop import train_backbone


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("run")
    write_arrays(root / "data" / "arrays")
    (root / "data" / "raw").mkdir()
    (root / "data" / "raw" / "source.json").write_text(json.dumps({
        "source": "file", "origin": "/data/fer2013.csv", "sha256": "ab" * 32, "rows": 107}))
    uri = f"sqlite:///{root / 'mlflow.db'}"
    tracker = TrackingService(uri, "tests")
    layout = Layout(root)
    metrics = train_backbone("cpu_net", tiny_params(epochs=3), layout=layout, tracker=tracker)
    return root, layout, metrics, uri


def _run(layout: Layout, uri: str) -> Run:
    return MlflowClient(uri).get_run(json.loads(layout.run_json("cpu_net").read_text())["run_id"])


def test_writes_every_output(trained) -> None:
    root, layout, metrics, uri = trained
    for name in ("model.keras", "history.json", "run.json"):
        assert (layout.model_dir("cpu_net") / name).is_file()
    assert json.loads(layout.train_metrics("cpu_net").read_text()) == metrics
    assert metrics["epochs_run"] == 3 and metrics["params"] > 0 and metrics["train_time_s"] > 0
    assert metrics["images_per_s"] > 0
    lines = layout.curves_csv("cpu_net").read_text().splitlines()
    assert lines[0] == "epoch,loss,accuracy,val_loss,val_accuracy" and len(lines) == 4
    assert layout.curves_png("cpu_net").read_bytes()[:4] == b"\x89PNG"
    run = json.loads((layout.run_json("cpu_net")).read_text())
    assert run["tracking_uri"] == uri and run["experiment_id"] and run["run_id"]
    # The resume checkpoint is gone after a successful run.
    assert not layout.resume_dir("cpu_net").exists()
    # Temporary files of the atomic writes are all renamed or removed.
    assert not [p for p in root.rglob(".*tmp-*")]


def test_saved_model_is_the_best_epoch_on_validation(trained) -> None:
    root, layout, metrics, _ = trained
    history = json.loads((layout.history("cpu_net")).read_text())
    assert history["epoch"] == [1, 2, 3]
    best = int(np.argmax(history["val_accuracy"])) + 1
    assert metrics["best_epoch"] == history["best_epoch"] == best
    assert metrics["best_val_accuracy"] == pytest.approx(max(history["val_accuracy"]))
    model = keras.saving.load_model(layout.model_file("cpu_net"))
    val = load_split(root / "data" / "arrays", "val")
    accuracy = float(np.mean(model.predict(val.x, verbose=0).argmax(axis=1) == val.y))
    assert accuracy == pytest.approx(metrics["best_val_accuracy"], abs=1e-6)


def test_saved_model_carries_the_temperature_fitted_on_val(trained) -> None:
    from ferflow.models.calibration import TemperatureScaling, fit_temperature
    from ferflow.models.inference import load_classifier, predict_probabilities

    root, layout, metrics, uri = trained
    model = load_classifier(layout.model_file("cpu_net"))
    temperature = metrics["calibration_temperature"]
    assert isinstance(model.layers[-1], TemperatureScaling)
    assert model.layers[-1].temperature == pytest.approx(temperature, rel=1e-5)
    val = load_split(root / "data" / "arrays", "val")
    raw = keras.Model(model.inputs, model.layers[-1].input).predict(val.x, verbose=0)
    assert fit_temperature(raw, val.y) == pytest.approx(temperature, rel=1e-4)
    assert metrics["val_nll"] <= metrics["val_nll_uncalibrated"]
    expected = np.exp(raw / temperature)
    np.testing.assert_allclose(predict_probabilities(model, val.x),
                               expected / expected.sum(axis=1, keepdims=True), atol=1e-4)
    logged = _run(layout, uri).data.metrics
    assert logged["calibration_temperature"] == pytest.approx(temperature)
    assert logged["val_nll"] == pytest.approx(metrics["val_nll"])


def test_saved_model_has_no_augmentation(trained) -> None:
    _, layout, _, _ = trained
    model = keras.saving.load_model(layout.model_file("cpu_net"))
    names = [layer.name for layer in model._flatten_layers()]
    assert model.name == "cpu_net" and "augment" not in names and "erase" not in names
    assert model.input_shape == (None, 48, 48, 1) and model.output_shape == (None, 7)


def test_mlflow_run_has_params_metrics_tags_and_model(trained) -> None:
    _, layout, metrics, uri = trained
    run_id = json.loads((layout.run_json("cpu_net")).read_text())["run_id"]
    client = MlflowClient(uri)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    p = run.data.params
    assert p["train.epochs"] == "3" and p["train.optimizer"] == "adam"
    assert p["model.width"] == "0.25" and p["train.augment.flip"] == "True"
    assert p["train.learning_rate"] == "0.003" and p["data.train_images"] == "70"
    tags = run.data.tags
    assert tags["backbone"] == "cpu_net" and tags["head"] == "softmax"
    assert tags["data_sha256"] == "ab" * 32 and tags["keras_backend"] == keras.backend.backend()
    assert tags["device"].startswith(("cpu", "gpu")) and len(tags["git_commit"]) >= 7
    for key in ("loss", "accuracy", "val_loss", "val_accuracy", "learning_rate"):
        steps = [m.step for m in client.get_metric_history(run_id, key)]
        assert sorted(steps) == [1, 2, 3], key
    assert run.data.metrics["best_val_accuracy"] == pytest.approx(metrics["best_val_accuracy"])
    artifacts = {a.path for a in client.list_artifacts(run_id, "training")}
    assert artifacts == {"training/cpu_net.png", "training/history.json"}
    experiment = client.get_experiment(run.info.experiment_id)
    assert experiment.artifact_location == (Path(uri[len("sqlite:///"):]).parent
                                            / "mlartifacts").as_uri()

    logged = client.search_logged_models([run.info.experiment_id])
    assert len(logged) == 1 and logged[0].source_run_id == run_id
    mlflow.set_tracking_uri(uri)
    info = mlflow.models.get_model_info(logged[0].model_uri)
    assert tuple(info.signature.inputs.to_dict()[0]["tensor-spec"]["shape"]) == (-1, 48, 48, 1)
    model = mlflow.keras.load_model(logged[0].model_uri)
    scores = model.predict(np.zeros((2, 48, 48, 1), "float32"), verbose=0)
    assert scores.shape == (2, 7) and np.isfinite(scores).all()


def test_mlflow_run_shows_the_datasets_it_saw(trained) -> None:
    _, layout, _, uri = trained
    datasets = {d.dataset.name: d for d in _run(layout, uri).inputs.dataset_inputs}
    assert sorted(datasets) == ["fer2013-test", "fer2013-train", "fer2013-val"]
    for split, rows in (("train", 70), ("val", 23), ("test", 14)):  # write_arrays' sizes
        found = datasets[f"fer2013-{split}"]
        assert [(t.key, t.value) for t in found.tags] == [("mlflow.data.context", split)]
        assert found.dataset.digest == "ab" * 6 and found.dataset.source_type == "local"
        assert json.loads(found.dataset.source) == {"uri": "/data/fer2013.csv"}
        assert json.loads(found.dataset.profile)["num_rows"] == rows


def test_system_metrics_are_on_by_default_and_off_with_the_param(trained, tmp_path) -> None:
    _, layout, _, uri = trained
    assert "system/cpu_utilization_percentage" in _run(layout, uri).data.metrics
    write_arrays(tmp_path / "data" / "arrays", rows=28)
    params = tiny_params(epochs=1, models={"cpu_net": {"width": 0.125}})
    quiet = params.model_copy(update={"mlflow": MlflowParams(experiment="tests",
                                                             system_metrics=False)})
    off = Layout(tmp_path)
    train_backbone("cpu_net", quiet, layout=off, tracker=TrackingService(uri, "tests"))
    logged = _run(off, uri).data.metrics
    assert "best_val_accuracy" in logged
    assert not [key for key in logged if key.startswith("system/")]
