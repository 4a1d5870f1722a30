"""evaluate.external: labelled image folders from elsewhere, read like `ferflow predict` reads an
image, scored by evaluate@<backbone>, logged into MLflow and shown on the leaderboard. Every
folder is made here from the synthetic faces and PIL: grey and colour, several sizes, a face in
a larger scene, CK+'s contempt, a misspelt class, a broken file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from mlflow import MlflowClient
from params_data import params_tree, params_with, write_params
from PIL import Image

from ferflow.config import BootstrapParams, EvaluateParams, ExternalDataset
from ferflow.data.face_folders import folder_digest, list_face_folder
from ferflow.data.synthetic import draw_faces
from ferflow.data.synthetic_folder import synthetic_folder_files, write_synthetic_folder
from ferflow.errors import FerflowError
from ferflow.evaluation.evaluate import describe_evaluation, evaluate_backbone
from ferflow.layout import Layout
from ferflow.release.leaderboard import render_leaderboard
from ferflow.release.selection import Candidate, load_candidate
from ferflow.serving.folder_faces import face_of, load_face_set, load_face_sets
from ferflow.tracking.model_registry import Promotion
from ferflow.tracking.run_ref import read_run_ref

# draw_faces(np.arange(21) % 7, 0.06, 5): face 2 (fear), enlarged to 120 px in a grey
# 240x180 scene, is one the Haar cascade finds.
FACES = draw_faces(np.arange(21) % 7, 0.06, 5)
SCENE_FACE = 2


def _save(path: Path, picture: Image.Image) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    picture.save(path)
    return path


def _grey(i: int, side: int = 48) -> Image.Image:
    return Image.fromarray(FACES[i]).resize((side, side), Image.Resampling.BILINEAR)


def _colour(i: int, side: int) -> Image.Image:
    grey = np.asarray(_grey(i, side), dtype=np.float64)
    return Image.fromarray(np.rint(grey[..., None] * (1.0, 0.9, 0.8)).astype(np.uint8), "RGB")


def _scene(i: int) -> Image.Image:
    scene = np.full((180, 240), 128, np.uint8)
    scene[30:150, 60:180] = np.asarray(_grey(i, 120))
    return Image.fromarray(scene).convert("RGB")


def _folder(root: Path) -> Path:
    """A CK+-like folder: 7 scored images in 4 classes (names in other spellings), one face in
    a scene, one scene without a face, and a contempt folder."""
    _save(root / "Anger" / "a.png", _grey(0))                  # 48x48 grey
    _save(root / "Anger" / "b.jpg", _colour(7, 90))            # colour, used whole
    _save(root / "happiness" / "c.png", _grey(3, 64))
    _save(root / "happiness" / "d.jpg", _colour(10, 100))
    _save(root / "Fearful" / "e.png", _scene(SCENE_FACE))      # found by the face finder
    _save(root / "Fearful" / "f.png", _grey(9, 32))            # smaller than 48
    _save(root / "SURPRISED" / "g.png", Image.new("RGB", (200, 150), (90, 120, 60)))  # no face
    _save(root / "contempt" / "h.png", _grey(6))
    return root


def _dataset(root: Path, **extra: object) -> ExternalDataset:
    return ExternalDataset(name="mine", path=str(root), detector="haar",
                           ignore=("contempt",), **extra)


def test_folder_names_map_case_insensitively_with_aliases(tmp_path: Path) -> None:
    listing = list_face_folder(_folder(tmp_path / "ck"), "mine", ("Contempt",))
    names = {p.parent.name: int(label) for p, label in zip(listing.files, listing.labels,
                                                           strict=True)}
    assert names == {"Anger": 0, "Fearful": 2, "happiness": 3, "SURPRISED": 5}
    assert listing.ignored == {"contempt": 1}
    assert list(listing.labels) == sorted(listing.labels)


def test_contempt_is_an_error_until_ignored_and_names_the_fix(tmp_path: Path) -> None:
    root = _folder(tmp_path / "ck")
    with pytest.raises(FerflowError) as error:
        list_face_folder(root, "ckplus")
    message = str(error.value)
    assert str(root / "contempt") in message and "'ckplus'" in message
    assert "happiness" in message and "surprised" in message
    assert "ignore: [contempt]" in message


def test_an_unknown_class_folder_is_an_error(tmp_path: Path) -> None:
    root = tmp_path / "jaffe"
    _save(root / "happy" / "a.png", _grey(3))
    _save(root / "smiling" / "b.png", _grey(10))
    with pytest.raises(FerflowError, match=r"class folder 'smiling' .* none of the 7 emotions"):
        list_face_folder(root, "jaffe")


def test_an_empty_or_missing_folder_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "empty" / "happy").mkdir(parents=True)
    (tmp_path / "empty" / "happy" / "notes.txt").write_text("no images")
    with pytest.raises(FerflowError, match="no .png or .jpg images"):
        list_face_folder(tmp_path / "empty", "empty")
    with pytest.raises(FerflowError, match="no such folder"):
        list_face_folder(tmp_path / "absent", "absent")


def test_an_unreadable_image_is_an_error_naming_it(tmp_path: Path) -> None:
    root = tmp_path / "broken"
    _save(root / "sad" / "fine.png", _grey(4))
    (root / "sad" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    with pytest.raises(FerflowError, match=r"broken\.png: not a readable image"):
        load_face_set(_dataset(root), tmp_path)


def test_crop_rules_whole_auto_and_detect() -> None:
    colour_90 = np.asarray(_colour(7, 90).convert("L"))
    scene = np.asarray(_scene(SCENE_FACE).convert("L"))
    blank = np.full((150, 200), 100, np.uint8)
    assert np.array_equal(face_of(FACES[0], "auto", "haar"), FACES[0])
    assert face_of(colour_90, "auto", "haar").shape == (48, 48)      # square, small: whole
    assert face_of(blank, "whole", "haar").shape == (48, 48)
    assert face_of(blank, "auto", "haar") is None                    # detect: no face
    found = face_of(scene, "auto", "haar")
    assert found is not None
    # The crop is the face, not the grey scene around it: its contrast is the face's.
    whole = face_of(scene, "whole", "haar")
    assert found.std() > 1.5 * whole.std()


def test_load_counts_faces_no_face_and_records_the_digest(tmp_path: Path) -> None:
    root = _folder(tmp_path / "ck")
    faces = load_face_set(_dataset(root), tmp_path)
    assert faces.images == 7 and len(faces.y) == 6 and faces.x.shape == (6, 48, 48, 1)
    assert faces.no_face == ("SURPRISED/g.png",)
    assert sorted(faces.y.tolist()) == [0, 0, 2, 2, 3, 3]
    assert faces.digest == folder_digest(root)
    whole = load_face_set(_dataset(root, crop="whole"), tmp_path)
    assert whole.no_face == () and len(whole.y) == 7

    before = folder_digest(root)
    (root / "Anger" / "a.png").rename(root / "Anger" / "a2.png")
    assert folder_digest(root) != before


def test_a_folder_without_any_face_is_an_error(tmp_path: Path) -> None:
    root = tmp_path / "scenes"
    _save(root / "neutral" / "wall.png", Image.new("L", (200, 150), 90))
    with pytest.raises(FerflowError, match="found no face in any of its 1 images"):
        load_face_set(_dataset(root, crop="detect"), tmp_path)


def test_the_generated_synthetic_folder_is_deterministic_and_varied(tmp_path: Path) -> None:
    assert synthetic_folder_files() == synthetic_folder_files()
    write_synthetic_folder(tmp_path / "a")
    write_synthetic_folder(tmp_path / "b")
    assert folder_digest(tmp_path / "a") == folder_digest(tmp_path / "b")
    sizes, modes = set(), set()
    for path in (tmp_path / "a").rglob("*.*"):
        with Image.open(path) as picture:
            sizes.add(picture.size)
            modes.add(picture.mode)
    assert {(48, 48), (220, 170)} <= sizes and len(sizes) > 5 and modes == {"L", "RGB"}
    # params.yaml's entry reads it: contempt ignored, every emotion present.
    (dataset,) = params_with().evaluate.external
    faces = load_face_set(dataset.model_copy(update={"path": str(tmp_path / "a")}), tmp_path)
    assert faces.ignored == {"contempt": 2}
    assert set(faces.y.tolist()) == set(range(7)) and faces.images == 56


@pytest.mark.parametrize(("entry", "named"), [
    ({"name": "ck+", "path": "x"}, "evaluate.external.0.name"),
    ({"name": "ck", "path": "x", "crop": "face"}, "evaluate.external.0.crop"),
    ({"name": "ck", "path": "x", "detector": "dlib"}, "evaluate.external.0.detector"),
    ({"name": "ck", "path": "x", "crops": "auto"}, "evaluate.external.0.crops"),
    ({"name": "ck"}, "evaluate.external.0.path"),
])
def test_bad_external_params_name_the_key(entry: dict, named: str) -> None:
    with pytest.raises(FerflowError, match=named.replace(".", r"\.")):
        params_with(evaluate={"external": [entry]})


def test_two_data_sets_of_one_name_are_an_error() -> None:
    twice = [{"name": "ck", "path": "a"}, {"name": "ck", "path": "b"}]
    with pytest.raises(FerflowError, match=r"evaluate\.external: .*names ck more than once"):
        params_with(evaluate={"external": twice})


def test_evaluate_scores_the_external_sets_into_metrics_mlflow_and_the_leaderboard(
        project: Path, add_backbone, tmp_path: Path) -> None:
    model_dir = add_backbone("cpu_net", predicts=0)  # answers angry for every face
    layout = Layout(project)
    _folder(project / "data" / "ck")
    params = EvaluateParams(tta=("none",), misclassified=0, saliency=0,
                            bootstrap=BootstrapParams(resamples=200),
                            external=(_dataset(Path("data/ck")),))
    sets = load_face_sets(params.external, project)

    result = evaluate_backbone("cpu_net", params, layout, sets)

    written = json.loads(layout.eval_metrics("cpu_net").read_text())["external"]["mine"]
    assert written == json.loads(json.dumps(result["external"]["mine"]))
    assert written["accuracy"] == pytest.approx(2 / 6)  # the 2 angry faces of 6
    assert written["accuracy_ci_low"] <= written["accuracy"] <= written["accuracy_ci_high"]
    assert written["recall"] == {"angry": 1.0, "fear": 0.0, "happy": 0.0}
    assert written["macro_f1"] == pytest.approx((2 * (2 / 6) / (2 / 6 + 1)) / 3)
    assert (written["images"], written["faces"], written["no_face"]) == (7, 6, 1)
    assert written["no_face_files"] == ["SURPRISED/g.png"]
    assert written["ignored"] == {"contempt": 1}
    assert written["sha256"] == folder_digest(project / "data" / "ck")
    assert written["path"] == "data/ck" and written["crop"] == "auto"
    assert "cpu_net external mine: accuracy 0.3333" in describe_evaluation(result)

    run = read_run_ref(model_dir / "run.json")
    logged = MlflowClient(run.tracking_uri).get_run(run.run_id).data.metrics
    assert logged["eval_external_mine_accuracy"] == pytest.approx(2 / 6)
    assert logged["eval_external_mine_accuracy_ci_high"] == written["accuracy_ci_high"]
    assert logged["eval_external_mine_no_face"] == 1
    assert logged["eval_external_mine_recall_angry"] == 1.0

    candidate = load_candidate("cpu_net", layout)
    plain = Candidate("older", ("older",), 0.1, 0.1, 0.1, 0.1)  # evaluated before external
    board = render_leaderboard([candidate, plain], candidate,
                               Promotion("faces", "1", "champion", 0.7, None, None, "first"),
                               params_with().registry)
    header = next(line for line in board.splitlines() if line.startswith("| candidate"))
    assert "| test ECE | mine accuracy | params |" in header
    row = next(line for line in board.splitlines() if line.startswith("| cpu_net"))
    assert (f"| {written['accuracy']:.4f} [{written['accuracy_ci_low']:.4f}, "
            f"{written['accuracy_ci_high']:.4f}] |") in row
    older = next(line for line in board.splitlines() if line.startswith("| older"))
    assert older.count("|") == header.count("|") and "| - | - |" in older


@pytest.mark.slow
def test_the_stage_scripts_write_the_folder_and_stop_on_a_bad_class_name(
        tmp_path: Path) -> None:
    repo = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    write_params(tmp_path / "params.yaml", params_tree(evaluate={"external": [
        {"name": "synthetic", "path": "data/external/synthetic-faces", "detector": "haar",
         "ignore": ["contempt"]},
        {"name": "ck", "path": "ck"}]}))
    made = subprocess.run([sys.executable, str(repo / "pipeline" / "external.py")],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env)
    assert made.returncode == 0, made.stderr
    written = Layout(tmp_path).synthetic_external
    assert folder_digest(written) == folder_digest(_written_here(tmp_path / "here"))

    _save(tmp_path / "ck" / "smiling" / "a.png", _grey(3))
    stopped = subprocess.run([sys.executable, str(repo / "pipeline" / "evaluate.py"), "net"],
                             cwd=tmp_path, capture_output=True, text=True, timeout=300,
                             env=env)
    assert stopped.returncode == 2
    assert ("ferflow: error: ck/smiling: class folder 'smiling' of evaluate.external 'ck'"
            in stopped.stderr)
    assert "Traceback" not in stopped.stderr


def _written_here(target: Path) -> Path:
    write_synthetic_folder(target)
    return target
