"""`ferflow predict --video/--camera` on a real video file written with OpenCV: one face moving
right across 24 frames, a second appearing at frame 12 (faces of `face_scenes`, found by
MTCNN, the default detector)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from face_scenes import background, face_patch, iou
from PIL import Image

from ferflow import EMOTIONS
from ferflow.cli import main
from ferflow.errors import FerflowError
from ferflow.serving.face_tracks import FaceTracker
from ferflow.serving.faces import Box
from ferflow.serving.predict import Face
from ferflow.serving.video import VideoSource, run_predict_video

FRAMES, SECOND_FROM, FPS, SIZE = 24, 12, 12.0, (480, 320)


@pytest.fixture(scope="module")
def scene_video(tmp_path_factory: pytest.TempPathFactory
                ) -> tuple[Path, list[list[tuple[int, int, int, int]]]]:
    """The video file and each frame's true face boxes (the moving face first)."""
    path = tmp_path_factory.mktemp("video") / "scene.mp4"
    moving, still = face_patch("hopper", 90), face_patch("astronaut", 90)
    backdrop = background(99, SIZE[0])[: SIZE[1]]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, SIZE)
    truth = []
    for i in range(FRAMES):
        frame = Image.fromarray(backdrop)
        boxes = [moving.paste_onto(frame, (10 + 4 * i, 40))]
        if i >= SECOND_FROM:
            boxes.append(still.paste_onto(frame, (300, 60)))
        truth.append(boxes)
        writer.write(cv2.cvtColor(np.asarray(frame), cv2.COLOR_GRAY2BGR))
    writer.release()
    return path, truth


@pytest.fixture(scope="module")
def every_frame(scene_video, keras_file, tmp_path_factory) -> tuple[list[dict], str]:
    """The JSON rows and printed summary of the video classified at stride 1."""
    path, _ = scene_video
    rows_file, out = tmp_path_factory.mktemp("rows") / "rows.json", io.StringIO()
    assert run_predict_video(VideoSource(path), str(keras_file), stride=1,
                             out_file=rows_file, out=out) == 0
    return json.loads(rows_file.read_text()), out.getvalue()


def test_each_face_keeps_one_track_over_the_frames(every_frame, scene_video) -> None:
    rows, summary = every_frame
    _, truth = scene_video
    assert sorted({r["frame"] for r in rows}) == list(range(FRAMES))
    assert {r["track"] for r in rows} == {1, 2}
    for row in rows:
        true_box = truth[row["frame"]][row["track"] - 1]
        assert iou(tuple(row["box"]), true_box) > 0.5, row
    assert [r["frame"] for r in rows if r["track"] == 2] == list(range(SECOND_FROM, FRAMES))
    assert row["time_s"] == pytest.approx((FRAMES - 1) / FPS, abs=1e-3)
    assert "24 frames, 24 classified" in summary and "2 face tracks" in summary


def test_smoothed_probabilities_sum_to_one_and_move_less_than_raw(every_frame) -> None:
    rows, _ = every_frame
    for row in rows:
        assert list(row["probabilities"]) == list(EMOTIONS)
        assert sum(row["probabilities"].values()) == pytest.approx(1, abs=1e-5)
        assert row["emotion"] == max(row["probabilities"], key=row["probabilities"].get)
    for track in (1, 2):
        ordered = [r for r in rows if r["track"] == track]
        smoothed = np.array([list(r["probabilities"].values()) for r in ordered])
        raw = np.array([list(r["raw_probabilities"].values()) for r in ordered])
        np.testing.assert_allclose(smoothed[0], raw[0], rtol=1e-5)  # starts at the first face
        steps = np.abs(np.diff(smoothed, axis=0)).sum()
        assert 0 < steps < np.abs(np.diff(raw, axis=0)).sum()


def test_cli_stride_csv_and_annotated_video(scene_video, keras_file, tmp_path, capsys) -> None:
    path, _ = scene_video
    rows_file, annotated = tmp_path / "rows.csv", tmp_path / "annotated.mp4"
    assert main(["predict", "--video", str(path), "--model", str(keras_file), "--stride", "3",
                 "--out", str(rows_file), "--annotate", str(annotated)]) == 0
    assert "24 frames, 8 classified" in capsys.readouterr().out
    with rows_file.open() as f:
        rows = list(csv.DictReader(f))
    assert sorted({int(r["frame"]) for r in rows}) == list(range(0, FRAMES, 3))
    assert {r["track"] for r in rows} == {"1", "2"}
    assert {f"p_{e}" for e in EMOTIONS} | {f"raw_{e}" for e in EMOTIONS} <= set(rows[0])

    capture = cv2.VideoCapture(str(annotated))
    frames = []
    while (read := capture.read())[0]:
        frames.append(read[1])
    capture.release()
    assert len(frames) == FRAMES and frames[0].shape == (SIZE[1], SIZE[0], 3)
    # Frames between classified ones carry the last boxes: the red outline is on every one.
    red = [((f[..., 2] > 180) & (f[..., 1] < 90) & (f[..., 0] < 90)).sum() for f in frames]
    assert min(red) > 200


def test_tracks_end_after_missed_frames_and_new_faces_get_new_ids() -> None:
    p = np.full(len(EMOTIONS), 1 / len(EMOTIONS))
    tracker = FaceTracker(alpha=0.5, max_missed=2)

    def ids(*boxes: Box) -> list[int]:
        return [t.track_id for t in tracker.update([Face(b, True, p) for b in boxes])]

    a, b = Box(10, 10, 50, 50), Box(200, 10, 50, 50)
    assert ids(a, b) == [1, 2]
    assert ids(Box(40, 12, 50, 50), b) == [1, 2]  # moved 30 px: overlap too small, centre near
    assert ids(b) == [2]
    assert ids(b) == [2]
    assert ids(Box(40, 12, 50, 50), b) == [1, 2]  # unseen for 2 frames: still track 1
    for _ in range(3):
        ids(b)
    assert ids(Box(40, 12, 50, 50), b) == [3, 2]  # unseen for 3: a new track


def test_missing_video_and_absent_camera_are_clear_errors(tmp_path, keras_file, capsys) -> None:
    missing = tmp_path / "nothing.mp4"
    with pytest.raises(FerflowError, match="nothing.mp4: no such video file"):
        run_predict_video(VideoSource(missing), str(keras_file))
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"not a video" * 100)
    with pytest.raises(FerflowError, match="OpenCV cannot read this file as a video"):
        run_predict_video(VideoSource(garbage), str(keras_file))
    assert main(["predict", "--camera", "99", "--model", str(keras_file)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ferflow: error: camera 99 cannot be opened: ")
    assert "/dev/video99" in err and err.count("\n") == 1


@pytest.mark.parametrize("options, message", [
    (["--out", "rows.txt"], "--out rows.txt: per-frame results are written as .csv or .json"),
    (["--annotate", "out.gif"], "--annotate out.gif: for a video"),
    (["--stride", "0"], "--stride 0: give a whole number of at least 1"),
    (["--smooth", "1.5"], "--smooth 1.5: give the weight of the newest frame"),
    (["--json"], "--json is for images"),
])
def test_bad_video_options_fail_before_reading(options, message, scene_video, keras_file,
                                               tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    path, _ = scene_video
    assert main(["predict", "--video", str(path), "--model", str(keras_file), *options]) == 2
    assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_video_options_without_a_video_are_refused(keras_file, capsys) -> None:
    assert main(["predict", "face.png", "--stride", "3", "--model", str(keras_file)]) == 2
    assert "--stride: only with --video or --camera" in capsys.readouterr().err
