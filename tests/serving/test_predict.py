from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ferflow import EMOTIONS
from ferflow.cli import main
from ferflow.errors import FerflowError
from ferflow.models.inference import load_classifier, predict_probabilities
from ferflow.serving.faces import crop_face
from ferflow.serving.predict import (
    annotation_targets,
    format_table,
    load_predictor,
    predict_files,
    run_predict,
)


@pytest.fixture(scope="module")
def predictor(keras_file):
    return load_predictor(str(keras_file))


@pytest.fixture
def images(tmp_path: Path, synthetic_faces, face_photo) -> dict[str, Path]:
    """A 48x48 face crop, a photo with two faces, a text file posing as a PNG, a missing file."""
    paths = {"crop": tmp_path / "crop.png", "photo": tmp_path / "photo.jpg",
             "fake": tmp_path / "fake.png", "missing": tmp_path / "missing.png"}
    Image.fromarray(synthetic_faces[0]).save(paths["crop"])
    Image.fromarray(face_photo[0]).convert("RGB").save(paths["photo"], quality=95)
    paths["fake"].write_text("not an image")
    return paths


def test_crop_is_classified_whole_and_photo_faces_each(images, predictor, keras_file) -> None:
    crop, photo = predict_files([images["crop"], images["photo"]], predictor)
    model = load_classifier(keras_file)

    assert crop.error is None and len(crop.faces) == 1
    assert not crop.faces[0].detected and crop.faces[0].box.as_list() == [0, 0, 48, 48]
    face48 = np.asarray(Image.open(images["crop"]))
    np.testing.assert_allclose(crop.faces[0].probabilities,
                               predict_probabilities(model, face48[None])[0], rtol=1e-5)

    assert photo.error is None and len(photo.faces) == 2
    grey = np.asarray(Image.open(images["photo"]).convert("L"))
    for face in photo.faces:
        assert face.detected
        expected = predict_probabilities(model, crop_face(grey, face.box)[None])[0]
        np.testing.assert_allclose(face.probabilities, expected, rtol=1e-5)
        (top, p), *rest = face.top(3)
        assert top == EMOTIONS[int(np.argmax(expected))] and len(rest) == 2


def test_no_detect_classifies_the_whole_photo(images, predictor) -> None:
    (result,) = predict_files([images["photo"]], predictor, detect=False)
    assert len(result.faces) == 1 and result.faces[0].box.as_list() == [0, 0, 480, 320]


def test_bad_files_are_reported_and_the_others_still_processed(images, keras_file) -> None:
    out, err = io.StringIO(), io.StringIO()
    order = [images["fake"], images["crop"], images["missing"], images["photo"]]
    code = run_predict(order, str(keras_file), out=out, err=err)
    assert code == 1
    errors = err.getvalue().splitlines()
    assert len(errors) == 2
    assert errors[0].startswith("ferflow: error: ")
    assert "fake.png: not a readable image" in errors[0]
    assert "missing.png: cannot read the file" in errors[1]
    table = out.getvalue().splitlines()
    assert table[0].split() == ["file", "face", "emotion", "p", "top", "3"]
    assert len(table) == 1 + 1 + 2  # header, the crop, two faces of the photo
    assert "whole 48x48" in table[1] and "144x144" not in table[1]


def test_json_output_and_exit_code_zero(images, keras_file) -> None:
    out = io.StringIO()
    assert run_predict([images["photo"]], str(keras_file), as_json_output=True, out=out) == 0
    (entry,) = json.loads(out.getvalue())
    assert entry["error"] is None and len(entry["faces"]) == 2
    face = entry["faces"][0]
    assert set(face["probabilities"]) == set(EMOTIONS)
    assert face["probability"] == max(face["probabilities"].values())
    assert face["emotion"] == max(face["probabilities"], key=face["probabilities"].get)


def test_photo_without_faces_is_reported_not_failed(tmp_path, predictor) -> None:
    blank = tmp_path / "wall.png"
    Image.fromarray(np.full((200, 300), 90, np.uint8)).save(blank)
    (result,) = predict_files([blank], predictor)
    assert result.error is None and result.faces == []
    assert "no face found" in format_table([result])


def test_annotation_targets(tmp_path) -> None:
    one = [tmp_path / "a.jpg"]
    assert annotation_targets(one, tmp_path / "out.png") == {one[0]: tmp_path / "out.png"}
    many = [tmp_path / "x" / "a.jpg", tmp_path / "y" / "a.jpg", tmp_path / "b.png"]
    targets = annotation_targets(many, tmp_path / "out")
    assert [t.name for t in targets.values()] == ["a.annotated.png", "a-2.annotated.png",
                                                  "b.annotated.png"]
    assert all(t.parent == tmp_path / "out" for t in targets.values())


def test_cli_annotates_into_a_folder(images, keras_file, tmp_path, capsys) -> None:
    out_dir = tmp_path / "annotated"
    code = main(["predict", str(images["crop"]), str(images["photo"]), "--model", str(keras_file),
                 "--annotate", str(out_dir)])
    assert code == 0
    assert "photo.jpg" in capsys.readouterr().out
    with Image.open(out_dir / "photo.annotated.png") as drawn:
        assert drawn.size == (480, 320)
        pixels = np.asarray(drawn.convert("RGB"))
    red = (pixels[..., 0] > 200) & (pixels[..., 1] < 80) & (pixels[..., 2] < 80)
    assert red.sum() > 500  # the boxes and label backgrounds are drawn in red
    with Image.open(out_dir / "crop.annotated.png") as small:
        assert min(small.size) >= 256  # a 48x48 crop is enlarged so its label is readable


def test_cli_explains_each_face_with_its_heatmap(images, keras_file, tmp_path, capsys) -> None:
    target = tmp_path / "explained.png"
    code = main(["predict", str(images["photo"]), "--model", str(keras_file),
                 "--explain", str(target)])
    assert code == 0
    assert "photo.jpg" in capsys.readouterr().out
    with Image.open(images["photo"]) as photo:
        plain = np.asarray(photo.convert("RGB")).astype(int)
    with Image.open(target) as drawn:
        assert drawn.size == (480, 320)
        pixels = np.asarray(drawn.convert("RGB")).astype(int)
    (result,) = predict_files([images["photo"]], load_predictor(str(keras_file)))
    assert len(result.faces) == 2
    inside = np.zeros(plain.shape[:2], bool)
    for face in result.faces:
        b = face.box
        inside[b.y + 4 : b.y + b.h - 4, b.x + 4 : b.x + b.w - 4] = True
        changed = np.abs(pixels - plain).sum(axis=2)[b.y + 4 : b.y + b.h - 4,
                                                        b.x + 4 : b.x + b.w - 4] > 30
        assert changed.mean() > 0.05  # its heatmap is blended into the box
    outside = np.abs(pixels - plain).sum(axis=2)[~inside]
    assert np.median(outside) < 10  # around the faces the photo is left as it was (bar labels)


def test_cli_uses_the_registered_champion_by_default(images, registered, monkeypatch, capsys,
                                                     tmp_path) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", registered.tracking_uri)
    monkeypatch.chdir(tmp_path)  # no params.yaml here: the default model name is used
    assert main(["predict", str(images["crop"]), "--json"]) == 0
    (entry,) = json.loads(capsys.readouterr().out)
    assert len(entry["faces"]) == 1


def test_missing_champion_is_a_clear_error(registered, monkeypatch, capsys, images) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", registered.tracking_uri)
    with pytest.raises(FerflowError, match="cannot load model models:/nothing@champion"):
        load_predictor("models:/nothing@champion")
    assert main(["predict", str(images["crop"]), "--model", "models:/nothing@champion"]) == 2
    assert "ferflow: error: cannot load model" in capsys.readouterr().err


@pytest.mark.parametrize("store", ["default", "env"])
@pytest.mark.parametrize("model", [[], ["--model", "runs:/0123abcd/model"]],
                         ids=["champion", "run"])
def test_no_mlflow_store_is_a_clear_error_that_creates_nothing(tmp_path: Path, store: str,
                                                               model: list[str]) -> None:
    """Reading a model must not leave an empty SQLite store behind (MLflow creates one when it
    opens a database file that is not there)."""
    Image.fromarray(np.zeros((48, 48), np.uint8)).save(tmp_path / "face.png")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "DVC_"))}
    db = tmp_path / "mlflow.db"
    if store == "env":
        db = tmp_path / "elsewhere" / "store.db"
        env["MLFLOW_TRACKING_URI"] = f"sqlite:///{db}"
    done = subprocess.run([sys.executable, "-m", "ferflow", "predict", "face.png", *model],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("ferflow: error: cannot load model ")
    assert f"(there is no MLflow store at {db}); run the pipeline first" in done.stderr
    assert done.stderr.count("\n") == 1 and done.stdout == ""  # one paragraph, no trace
    assert sorted(p.name for p in tmp_path.iterdir()) == ["face.png"]
