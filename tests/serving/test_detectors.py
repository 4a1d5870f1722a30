"""MTCNN against the Haar cascade on real faces: the astronaut portrait, and faces composed
onto backgrounds tilted by up to 30°, at two sizes, evenly and side lit (face_scenes.py).
docs/benchmarks.md has the same comparison with timings (benchmarks/face_detectors.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import files
from pathlib import Path

import pytest
from face_scenes import composed_scenes, face_free_scenes, iou, match, portraits

from ferflow.cli import main
from ferflow.errors import FerflowError
from ferflow.serving.faces import DEFAULT_DETECTOR, DETECTORS, check_detector, detect_faces

NO_TENSORFLOW = Path(__file__).resolve().parents[1] / "no_tensorflow"


def _score(detector: str) -> tuple[int, int, list[str]]:
    """(faces found, false positives, names of the scenes whose face was missed)."""
    found = false = 0
    missed = []
    for scene in composed_scenes():
        hits, wrong = match([tuple(b.as_list()) for b in detect_faces(scene.grey, detector)],
                            scene.faces)
        found, false = found + hits, false + wrong
        if not hits:
            missed.append(scene.name)
    return found, false, missed


@pytest.fixture(scope="module")
def scores() -> dict[str, tuple[int, int, list[str]]]:
    return {detector: _score(detector) for detector in DETECTORS}


def test_mtcnn_is_the_default_and_its_weights_come_in_its_wheel() -> None:
    assert DEFAULT_DETECTOR == "mtcnn"
    weights = {p.name for p in files("mtcnn") if p.parent.name == "weights"}
    assert weights == {"pnet.lz4", "rnet.lz4", "onet.lz4"}


def test_mtcnn_finds_the_astronauts_face() -> None:
    photo, face = portraits()["astronaut"]
    (box,) = detect_faces(photo, "mtcnn")
    assert iou(tuple(box.as_list()), face) > 0.5


def test_mtcnn_finds_tilted_scaled_and_side_lit_faces(scores) -> None:
    found, false, missed = scores["mtcnn"]
    assert false == 0
    # Every face tilted up to 15° is found; at 30° most are.
    assert all("30°" in name for name in missed), missed
    assert found >= 30, missed


def test_mtcnn_finds_more_faces_than_haar_on_the_same_scenes(scores) -> None:
    mtcnn, haar = scores["mtcnn"], scores["haar"]
    assert mtcnn[0] >= haar[0] + 5, (mtcnn, haar)
    assert mtcnn[1] <= haar[1]


@pytest.mark.parametrize("detector", DETECTORS)
def test_no_face_in_face_free_images(detector: str) -> None:
    for scene in face_free_scenes():
        assert detect_faces(scene.grey, detector) == [], scene.name


def test_unknown_detector_is_a_clear_error(tmp_path, capsys) -> None:
    with pytest.raises(FerflowError, match="unknown face detector 'yolo': choose one of mtcnn, "
                                           "haar"):
        check_detector("yolo")
    image = tmp_path / "face.png"
    image.write_bytes(b"")  # never read: the detector is checked before anything is loaded
    code = main(["predict", str(image), "--model", str(tmp_path / "none.keras"),
                 "--detector", "yolo"])
    assert code != 0
    err = capsys.readouterr().err
    assert err.startswith("ferflow: error: unknown face detector 'yolo'") and "mtcnn, haar" in err


def test_without_tensorflow_mtcnn_falls_back_to_haar_and_says_so() -> None:
    # A child that cannot import TensorFlow, as on a JAX-only host: mtcnn cannot load.
    script = ("from face_scenes import portraits; from ferflow.serving.faces import "
              "detect_faces; print(len(detect_faces(portraits()['hopper'][0], 'mtcnn')))")
    path = os.pathsep.join([str(NO_TENSORFLOW), str(Path(__file__).parent),
                            os.environ.get("PYTHONPATH", "")])
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": path}, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "1"  # the Haar cascade found her face
    assert ("the mtcnn face detector is not installed here" in done.stderr
            and "detecting faces with the Haar cascade instead" in done.stderr), done.stderr
