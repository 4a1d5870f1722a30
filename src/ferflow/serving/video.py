"""`ferflow predict --video FILE | --camera N`: classify the faces of a video's frames, each face
followed across frames (`ferflow.serving.face_tracks`) and its emotion smoothed over time.

Every `stride`-th frame goes through the same detection and model as a photo does
(`ferflow.serving.predict.classify_image`); the frames between are only drawn, with the last
classified frame's boxes. Results: one row per face per classified frame (`--out` .csv or
.json), a per-track summary on stdout, and optionally the annotated video (`--annotate` .mp4 or
.avi, written with OpenCV's VideoWriter). A camera is read until Ctrl-C or `--max-frames`;
what it gave until then is written as for a file.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from ferflow import EMOTIONS
from ferflow.atomic import atomic_path, write_text
from ferflow.errors import FerflowError
from ferflow.progress import Progress
from ferflow.serving.face_tracks import DEFAULT_ALPHA, FaceTracker, TrackedFace, check_alpha
from ferflow.serving.faces import DEFAULT_DETECTOR, check_detector
from ferflow.serving.predict import classify_image, load_predictor

DEFAULT_STRIDE = 2
"""Classify every 2nd frame: 12-15 classified frames a second of a 25-30 fps video follow any
change of expression, at half the detection cost."""
VIDEO_CODECS: dict[str, str] = {".mp4": "mp4v", ".avi": "MJPG"}
"""`--annotate` suffix → the FourCC that opencv-python-headless 4.x writes without extra
libraries (its wheel has no H.264 encoder)."""
ROW_SUFFIXES = (".csv", ".json")
CAMERA_FPS = 30.0
"""Frame rate written for a camera that does not report its own."""
BOX_COLOUR = (40, 40, 255)  # BGR red, as the photo annotations


@dataclass(frozen=True)
class VideoSource:
    """A video file or a camera index: exactly one is set."""

    video: Path | None = None
    camera: int | None = None

    def __str__(self) -> str:
        return f"camera {self.camera}" if self.video is None else str(self.video)


@dataclass(frozen=True)
class FrameFace:
    """One face of one classified frame: what `--out` writes a row for."""

    frame: int
    time_s: float
    tracked: TrackedFace


def check_video_request(images: Sequence[Path], *, as_json_output: bool = False,
                        explain: Path | None = None) -> None:
    """The options of `ferflow predict` that a video or camera cannot take."""
    if images:
        raise FerflowError(f"give image files or --video/--camera, not both (got {images[0]} "
                           "and a video source); run ferflow predict once for each")
    if as_json_output:
        raise FerflowError("--json is for images; for a video write the per-frame results "
                           "with --out FILE.json")
    if explain is not None:
        raise FerflowError("--explain is for images (121 occluded copies per face would make "
                           "a video minutes per second); use --annotate OUT.mp4 for boxes and "
                           "labels")


def check_outputs(out_file: Path | None, annotate: Path | None) -> None:
    """Refuse output suffixes before any frame is read."""
    if out_file is not None and out_file.suffix.lower() not in ROW_SUFFIXES:
        raise FerflowError(f"--out {out_file}: per-frame results are written as .csv or .json; "
                           "name the file accordingly")
    if annotate is not None and annotate.suffix.lower() not in VIDEO_CODECS:
        raise FerflowError(f"--annotate {annotate}: for a video the annotated frames are "
                           f"written as {' or '.join(VIDEO_CODECS)}; name the file accordingly")


def _cv2() -> Any:
    from ferflow.serving.faces import _cv2 as import_cv2

    return import_cv2()


@contextlib.contextmanager
def _quiet_opencv() -> Iterator[None]:
    """Silence stderr at the descriptor while OpenCV opens a file or device: it and FFmpeg log
    their own warnings there when one does not open, and ferflow's error says it once, in one
    paragraph."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def open_source(source: VideoSource) -> Any:
    """An opened `cv2.VideoCapture`, or a FerflowError naming the file or device and what to
    check."""
    cv2 = _cv2()
    if source.video is not None:
        if not source.video.is_file():
            raise FerflowError(f"{source.video}: no such video file; check the path")
        with _quiet_opencv():
            capture = cv2.VideoCapture(str(source.video))
        if not capture.isOpened():
            raise FerflowError(f"{source.video}: OpenCV cannot read this file as a video; use "
                               "an MP4, AVI, MOV or MKV file that plays elsewhere, or check "
                               "that it is complete")
        return capture
    if source.camera is None or source.camera < 0:
        raise FerflowError(f"--camera {source.camera}: give the camera's index, 0 for the first")
    with _quiet_opencv():
        capture = cv2.VideoCapture(source.camera)
    if not capture.isOpened():
        raise FerflowError(f"camera {source.camera} cannot be opened: check that a camera is "
                           f"connected as that index (on Linux /dev/video{source.camera}; "
                           "`ls /dev/video*` lists them), that this user may read it (the "
                           "video group), and that no other program holds it; --camera 0 is "
                           "the first camera")
    return capture


def read_frames(capture: Any, max_frames: int | None) -> Iterator[np.ndarray]:
    """BGR frames until the source ends or `max_frames` have been read."""
    count = 0
    while max_frames is None or count < max_frames:
        ok, frame = capture.read()
        if not ok:
            return
        count += 1
        yield frame


def draw_faces(frame: np.ndarray, faces: Sequence[TrackedFace]) -> None:
    """Box, `#track label p` and a bar of p over each face, in place on a BGR frame."""
    cv2 = _cv2()
    height = frame.shape[0]
    thick, scale = max(1, height // 240), max(0.4, height / 720)
    for tracked in faces:
        b = tracked.face.box
        p = float(np.max(tracked.smoothed))
        cv2.rectangle(frame, (b.x, b.y), (b.x + b.w - 1, b.y + b.h - 1), BOX_COLOUR, thick)
        label = f"#{tracked.track_id} {tracked.label} {p:.2f}"
        (text_w, text_h), base = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
        top = b.y - text_h - base - 4 if b.y >= text_h + base + 4 else b.y + b.h
        cv2.rectangle(frame, (b.x, top), (b.x + text_w + 4, top + text_h + base + 4),
                      BOX_COLOUR, cv2.FILLED)
        cv2.putText(frame, label, (b.x + 2, top + text_h + 2), cv2.FONT_HERSHEY_SIMPLEX, scale,
                    (255, 255, 255), thick, cv2.LINE_AA)
        # The bar runs along the box's bottom edge, as long as the box times p.
        bar_top = min(frame.shape[0] - 1, b.y + b.h - 1 - 3 * thick)
        cv2.rectangle(frame, (b.x, bar_top), (b.x + round((b.w - 1) * p), b.y + b.h - 1),
                      BOX_COLOUR, cv2.FILLED)


def _probabilities(values: np.ndarray) -> dict[str, float]:
    return dict(zip(EMOTIONS, map(float, values), strict=True))


def rows_as_json(rows: Sequence[FrameFace]) -> list[dict[str, Any]]:
    return [{"frame": r.frame, "time_s": round(r.time_s, 4), "track": r.tracked.track_id,
             "box": r.tracked.face.box.as_list(), "emotion": r.tracked.label,
             "probabilities": _probabilities(r.tracked.smoothed),
             "raw_probabilities": _probabilities(r.tracked.face.probabilities)}
            for r in rows]


def rows_as_csv(rows: Sequence[FrameFace]) -> str:
    """Columns: frame, time_s, track, x, y, w, h, emotion, one `p_<emotion>` per emotion
    (smoothed) and one `raw_<emotion>` (this frame alone)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["frame", "time_s", "track", "x", "y", "w", "h", "emotion",
                     *(f"p_{e}" for e in EMOTIONS), *(f"raw_{e}" for e in EMOTIONS)])
    for r in rows:
        t = r.tracked
        writer.writerow([r.frame, f"{r.time_s:.4f}", t.track_id, *t.face.box.as_list(), t.label,
                         *(f"{p:.6f}" for p in t.smoothed),
                         *(f"{p:.6f}" for p in t.face.probabilities)])
    return buffer.getvalue()


def write_rows(target: Path, rows: Sequence[FrameFace]) -> None:
    if target.suffix.lower() == ".json":
        write_text(target, json.dumps(rows_as_json(rows), indent=2) + "\n")
    else:
        write_text(target, rows_as_csv(rows))


def format_summary(source: VideoSource, frames: int, classified: int, seconds: float,
                   rows: Sequence[FrameFace]) -> str:
    """One line about the run, then a table: per track, its frames, time span and the emotion
    of its mean smoothed probabilities."""
    by_track: dict[int, list[FrameFace]] = {}
    for r in rows:
        by_track.setdefault(r.tracked.track_id, []).append(r)
    head = (f"{source}: {frames} frames, {classified} classified, {seconds:.1f} s of video; "
            f"{len(by_track)} face track{'s' if len(by_track) != 1 else ''}")
    if not by_track:
        return head + " (no face found)"
    table = [("track", "faces", "from s", "to s", "emotion", "p")]
    for track_id, track_rows in sorted(by_track.items()):
        mean = np.mean([r.tracked.smoothed for r in track_rows], axis=0)
        table.append((str(track_id), str(len(track_rows)), f"{track_rows[0].time_s:.2f}",
                      f"{track_rows[-1].time_s:.2f}", EMOTIONS[int(np.argmax(mean))],
                      f"{float(np.max(mean)):.3f}"))
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
             for row in table]
    return "\n".join([head, *lines])


def check_count(option: str, value: int | None) -> None:
    if value is not None and value < 1:
        raise FerflowError(f"{option} {value}: give a whole number of at least 1")


def run_predict_video(
    source: VideoSource,
    model: str,
    *,
    stride: int = DEFAULT_STRIDE,
    alpha: float = DEFAULT_ALPHA,
    max_frames: int | None = None,
    out_file: Path | None = None,
    annotate: Path | None = None,
    detect: bool = True,
    engine: str = "keras",
    detector: str = DEFAULT_DETECTOR,
    out: TextIO | None = None,
) -> int:
    """The `ferflow predict --video/--camera` command. Every option is checked and the source
    opened before the model loads, so a mistake fails at once."""
    out = out or sys.stdout
    check_count("--stride", stride)
    check_count("--max-frames", max_frames)
    check_alpha(alpha)
    check_detector(detector)
    check_outputs(out_file, annotate)
    capture = open_source(source)
    try:
        fps = float(capture.get(_cv2().CAP_PROP_FPS)) or 0.0
        total = int(capture.get(_cv2().CAP_PROP_FRAME_COUNT)) if source.video else 0
        total_frames = min(total, max_frames or total) if total > 0 else max_frames
        predictor = load_predictor(model, engine=engine)
        with contextlib.ExitStack() as stack:
            video_tmp = (stack.enter_context(atomic_path(annotate)) if annotate is not None
                         else None)
            rows, frames, seconds = _classify_frames(
                capture, source, predictor, FaceTracker(alpha), stride=stride,
                max_frames=max_frames, fps=fps, total=total_frames, video_tmp=video_tmp,
                detect=detect, detector=detector)
    finally:
        capture.release()
    if out_file is not None:
        write_rows(out_file, rows)
    classified = len(range(0, frames, stride))
    print(format_summary(source, frames, classified, seconds, rows), file=out)
    return 0


def _classify_frames(capture: Any, source: VideoSource, predictor: Any, tracker: FaceTracker,
                     *, stride: int, max_frames: int | None, fps: float, total: int | None,
                     video_tmp: Path | None, detect: bool, detector: str
                     ) -> tuple[list[FrameFace], int, float]:
    """The frame loop: (rows, frames read, seconds of video). A camera stops cleanly on
    Ctrl-C; a file interrupted so raises, and nothing is written."""
    cv2 = _cv2()
    rows: list[FrameFace] = []
    current: list[TrackedFace] = []
    writer: Any = None
    frames, start, time_s = 0, time.monotonic(), 0.0
    try:
        with Progress(total, f"predict {source}", unit="frame") as progress:
            for index, frame in enumerate(read_frames(capture, max_frames)):
                time_s = (index / fps if source.video is not None and fps > 0
                          else time.monotonic() - start)
                if index % stride == 0:
                    grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
                    current = tracker.update(classify_image(grey, predictor, detect, detector))
                    rows.extend(FrameFace(index, time_s, tracked) for tracked in current)
                if video_tmp is not None:
                    if writer is None:
                        writer = _open_writer(video_tmp, frame.shape, fps or CAMERA_FPS)
                    draw_faces(frame, current)
                    writer.write(frame)
                frames = index + 1
                progress.update()
    except KeyboardInterrupt:
        if source.camera is None:
            raise
    finally:
        if writer is not None:
            writer.release()
    if frames == 0:
        raise FerflowError(f"{source}: no frame could be read; check that the file is a "
                           "complete video (it plays elsewhere) or that the camera is not "
                           "in use by another program")
    seconds = frames / fps if source.video is not None and fps > 0 else time_s
    return rows, frames, seconds


def _open_writer(path: Path, shape: tuple[int, ...], fps: float) -> Any:
    cv2 = _cv2()
    height, width = shape[:2]
    codec = VIDEO_CODECS[path.suffix.lower()]
    with _quiet_opencv():
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*codec), fps,
                                 (width, height))
    if not writer.isOpened():
        raise FerflowError(f"--annotate: OpenCV {cv2.__version__} cannot write {codec} video "
                           f"({path.suffix}) here; try an .avi file (MJPG) instead")
    return writer
