"""`ferflow export`, the exported files under real ONNX Runtime and LiteRT interpreters, and
`ferflow predict --engine`: a tiny trained model, checked against Keras."""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import pytest
from mlflow import MlflowClient
from PIL import Image

from ferflow.cli import main
from ferflow.data.synthetic import draw_faces
from ferflow.errors import FerflowError
from ferflow.models.inference import load_classifier, predict_probabilities
from ferflow.models.zoo import create_model
from ferflow.serving.engines import EXPORTED_FILES, load_exported
from ferflow.serving.export import (
    PARITY_JSON,
    EngineParity,
    ExportReport,
    check_parity,
    export_model,
)
from ferflow.serving.predict import load_predictor
from ferflow.tools.infer_benchmark import benchmark_engines


def _write_split(folder: Path, split: str, n: int, seed: int) -> None:
    labels = np.arange(n) % 7
    faces = draw_faces(labels, noise=0.3, seed=seed)
    np.savez(folder / f"{split}.npz", x=faces.astype(np.uint8), y=labels.astype(np.uint8),
             row=np.arange(n))


@pytest.fixture(scope="module")
def arrays(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("arrays")
    _write_split(folder, "train", 140, seed=1)
    _write_split(folder, "val", 70, seed=2)
    _write_split(folder, "test", 35, seed=3)
    return folder


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, arrays: Path) -> Path:
    """cpu_net at 1/8 width after two epochs on synthetic faces: confident enough that its
    top classes are not ties."""
    model = create_model("cpu_net", width=0.125, seed=7).model
    model.compile(optimizer=keras.optimizers.Adam(3e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    with np.load(arrays / "train.npz") as data:
        model.fit(data["x"].astype(np.float32)[..., None], data["y"], epochs=2, batch_size=35,
                  verbose=0)
    path = tmp_path_factory.mktemp("trained") / "model.keras"
    model.save(path)
    return path


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory, trained: Path, arrays: Path) -> Path:
    out = tmp_path_factory.mktemp("export") / "cpu_net"
    with np.load(arrays / "val.npz") as data:
        export_model(load_predictor(str(trained)), out, data["x"], data["y"], name="tiny")
    return out


def test_exported_files_agree_with_keras(exported: Path, trained: Path, arrays: Path) -> None:
    parity = json.loads((exported / PARITY_JSON).read_text())
    assert parity["split"] == "val" and parity["faces"] == 70
    assert [e["engine"] for e in parity["engines"]] == ["onnx", "litert"]
    for e in parity["engines"]:
        assert abs(e["accuracy_delta"]) <= 0.002 and e["max_abs_probability_diff"] < 1e-4
    faces = draw_faces(np.arange(20) % 7, noise=0.5, seed=9)
    keras_probs = predict_probabilities(load_classifier(trained), faces)
    for engine in EXPORTED_FILES:
        probs = load_exported(engine, exported).predictor(faces)
        assert probs.shape == (20, 7) and probs.dtype == np.float32
        np.testing.assert_allclose(probs, keras_probs, atol=1e-4)
        # Batches of any size, across the interpreter's resizes.
        np.testing.assert_allclose(load_exported(engine, exported, batch_size=3)(faces[:7]),
                                   keras_probs[:7], atol=1e-4)


def test_an_ensemble_exports_as_the_mean_of_its_members(tmp_path: Path, trained: Path,
                                                        arrays: Path) -> None:
    other = create_model("shallow_cnn", width=0.125, seed=3).model
    members = (load_classifier(trained), other)
    faces = draw_faces(np.arange(14) % 7, noise=0.3, seed=4)
    mean = (predict_probabilities(members[0], faces) + predict_probabilities(other, faces)) / 2
    from ferflow.serving.predict import LoadedModel

    source = LoadedModel("ensemble", 0, lambda f: (predict_probabilities(members[0], f)
                                                   + predict_probabilities(other, f)) / 2,
                         members)
    export_model(source, tmp_path / "e", faces, np.arange(14) % 7, name="e", engines=["onnx"])
    np.testing.assert_allclose(load_exported("onnx", tmp_path / "e")(faces), mean, atol=1e-4)


def test_predict_engine_onnx_and_litert_match_keras(exported: Path, trained: Path,
                                                    tmp_path: Path, capsys) -> None:
    crop = tmp_path / "crop.png"
    Image.fromarray(draw_faces(np.array([3]), noise=0.2, seed=5)[0]).save(crop)
    outputs = {}
    for engine, model in [("keras", trained), ("onnx", exported),
                          ("litert", exported / "model.tflite")]:
        assert main(["predict", str(crop), "--json", "--engine", engine,
                     "--model", str(model)]) == 0
        (entry,) = json.loads(capsys.readouterr().out)
        outputs[engine] = entry["faces"][0]
    for engine in ("onnx", "litert"):
        assert outputs[engine]["emotion"] == outputs["keras"]["emotion"]
        np.testing.assert_allclose(list(outputs[engine]["probabilities"].values()),
                                   list(outputs["keras"]["probabilities"].values()), atol=1e-4)


@pytest.mark.parametrize("engine", ["onnx", "litert"])
def test_damaged_or_missing_export_is_a_clear_error(engine: str, exported: Path,
                                                    tmp_path: Path, capsys) -> None:
    """A truncated file (a download cut short) and a folder without the file."""
    name = EXPORTED_FILES[engine]
    damaged = tmp_path / name
    damaged.write_bytes((exported / name).read_bytes()[:2000])
    with pytest.raises(FerflowError, match=f"{name}: not a readable .* write it again"):
        load_exported(engine, damaged)
    crop = tmp_path / "crop.png"
    Image.fromarray(np.zeros((48, 48), np.uint8)).save(crop)
    assert main(["predict", str(crop), "--engine", engine, "--model", str(damaged)]) == 2
    assert f"ferflow: error: {damaged}: not a readable" in capsys.readouterr().err
    with pytest.raises(FerflowError, match="ferflow export --out"):
        load_exported(engine, tmp_path / "empty-folder-that-is-not-there")


def test_parity_beyond_tolerance_is_refused_and_writes_nothing() -> None:
    off = EngineParity("litert", "model.tflite", 1000, 0.50, -0.01, 0.2, 0.97)
    with pytest.raises(FerflowError, match=r"LiteRT 0.5000 vs Keras 0.5100 \(-1.00 points"):
        check_parity(ExportReport("m", "val", 100, 0.51, 0.002, [off]))
    check_parity(ExportReport("m", "val", 100, 0.51, 0.002,
                              [EngineParity("onnx", "model.onnx", 1, 0.511, 0.001, 1e-7, 1.0)]))


def test_export_refuses_to_replace_a_folder_of_other_files(tmp_path: Path, trained: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    faces = np.zeros((7, 48, 48), np.uint8)
    with pytest.raises(FerflowError, match="holds more than an export"):
        export_model(load_predictor(str(trained)), tmp_path, faces, np.arange(7), name="m")
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_export_of_the_champion_is_logged_to_its_registered_version(
        registered, arrays: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", registered.tracking_uri)
    monkeypatch.chdir(tmp_path)  # no params.yaml: the default model name, as predict
    assert main(["export", "--arrays", str(arrays), "--out", "out"]) == 0
    printed = capsys.readouterr().out
    assert "tagged version 1 of ferflow-emotion" in printed
    client = MlflowClient(registered.tracking_uri)
    version = client.get_model_version(registered.name, "1")
    assert version.tags["export.onnx"] == "export/model.onnx"
    assert version.tags["export.litert"] == "export/model.tflite"
    assert float(version.tags["export.onnx.max_abs_probability_diff"]) < 1e-4
    logged = {Path(f.path).name for f in client.list_artifacts(version.run_id, "export")}
    assert logged == {"model.onnx", "model.tflite", PARITY_JSON}

    # predict --engine finds the champion's exported file through the version's tags.
    crop = tmp_path / "crop.png"
    Image.fromarray(draw_faces(np.array([0]), noise=0.2, seed=6)[0]).save(crop)
    results = {}
    for engine in ("keras", "onnx"):
        assert main(["predict", str(crop), "--json", "--engine", engine]) == 0
        results[engine] = json.loads(capsys.readouterr().out)[0]["faces"][0]["probabilities"]
    np.testing.assert_allclose(list(results["onnx"].values()), list(results["keras"].values()),
                               atol=1e-4)


def test_export_by_run_id_tags_that_runs_version(registered, arrays: Path, tmp_path: Path,
                                                 monkeypatch, capsys) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", registered.tracking_uri)
    client = MlflowClient(registered.tracking_uri)
    run_id = client.get_model_version(registered.name, "1").run_id
    assert main(["export", "--run", run_id, "--engines", "onnx", "--arrays", str(arrays),
                 "--out", str(tmp_path / "out")]) == 0
    assert f"models:/{registered.name}/1: parity" in capsys.readouterr().out
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["model.onnx", PARITY_JSON]
    assert main(["export", "--run", run_id, "--engines", "onnx,tflite"]) == 2
    assert "--engines onnx,tflite: export to one or more of onnx, litert" \
        in capsys.readouterr().err


def test_a_version_without_export_says_how_to_make_one(registered, monkeypatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", registered.tracking_uri)
    client = MlflowClient(registered.tracking_uri)
    source = client.get_model_version(registered.name, "1")
    bare = client.create_model_version(registered.name, source.source, run_id=source.run_id)
    with pytest.raises(FerflowError, match=f"version {bare.version}\\) has no litert export; "
                                           "write one with `ferflow export"):
        load_predictor(f"models:/{registered.name}/{bare.version}", engine="litert")


def test_benchmark_engines_side_by_side(trained: Path, exported: Path, arrays: Path,
                                        capsys) -> None:
    report, scores = benchmark_engines(str(trained), ["litert", "onnx", "keras"], arrays,
                                       export_dir=exported, batch_size=16, latency_runs=4,
                                       batch_runs=2)
    assert [s["engine"] for s in scores] == ["keras", "onnx", "litert"]
    for s in scores:
        assert [t["batch"] for t in s["timings"]] == [1, 16]
        assert all(t["images_per_s"] > 0 and t["latency_ms_p95"] >= t["latency_ms_p50"]
                   for t in s["timings"])
        assert s["max_abs_probability_diff"] < 1e-4
    lines = report.splitlines()
    assert lines[0].startswith("test split: 35 faces;")
    assert lines[-2].startswith("ONNX Runtime / Keras") and lines[-1].startswith("LiteRT / Keras")
    assert "benchmark infer: 18/18 call" in capsys.readouterr().err


def test_a_mixed_precision_model_exports_in_float32(tmp_path: Path) -> None:
    """A model trained on a GPU under mixed_bfloat16 keeps that policy in its file; ONNX
    Runtime rejects the mixed graph, so the export computes in float32 with the same weights."""
    previous = keras.mixed_precision.dtype_policy()
    keras.mixed_precision.set_dtype_policy("mixed_bfloat16")
    try:
        create_model("cpu_net", width=0.125, seed=7).model.save(tmp_path / "mixed.keras")
    finally:
        keras.mixed_precision.set_dtype_policy(previous)
    source = load_predictor(str(tmp_path / "mixed.keras"))
    faces = draw_faces(np.arange(14) % 7, noise=0.3, seed=8)
    report = export_model(source, tmp_path / "out", faces, np.arange(14) % 7, name="mixed",
                          engines=["onnx"])
    # bfloat16 keeps 8 bits of mantissa: the float32 export differs by its rounding only.
    assert report.engines[0].max_abs_probability_diff < 0.01
    np.testing.assert_allclose(load_exported("onnx", tmp_path / "out")(faces),
                               source.predictor(faces), atol=0.01)
