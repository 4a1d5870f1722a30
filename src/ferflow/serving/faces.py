"""Face detection: MTCNN (the default) or OpenCV's bundled Haar cascade (the fallback).

Both ship their models inside their wheels, so detection downloads nothing. The Haar cascade is
old but small and fast; it finds upright frontal faces and misses turned, tilted and partly lit
ones. MTCNN (`ferflow.serving.mtcnn_faces`) finds more of those, in about twice the time per
image; docs/benchmarks.md measures both on the same faces. Where MTCNN cannot run (its package
or TensorFlow missing), detection says so once on stderr and uses the Haar cascade.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

from ferflow.errors import FerflowError
from ferflow.serving.images import resize_face

DETECTORS = ("mtcnn", "haar")
DEFAULT_DETECTOR = "mtcnn"
CASCADE_FILE = "haarcascade_frontalface_default.xml"
DETECT_MAX_SIDE = 1024
"""Larger photos are shrunk to this side for detection (boxes are mapped back), which keeps a
12-megapixel photo under a second on a CPU."""


@dataclass(frozen=True)
class Box:
    """A face's bounding box in image pixels."""

    x: int
    y: int
    w: int
    h: int

    def as_list(self) -> list[int]:
        return [self.x, self.y, self.w, self.h]


def _cv2() -> Any:
    try:
        import cv2
    except ImportError:
        raise FerflowError("face detection needs OpenCV: pip install opencv-python-headless "
                           "(see requirements.lock), or pass 48x48 face crops or "
                           "--no-detect") from None
    return cv2


@cache
def _cascade() -> Any:
    cv2 = _cv2()
    detector = cv2.CascadeClassifier(cv2.data.haarcascades + CASCADE_FILE)
    if detector.empty():
        raise FerflowError(f"OpenCV could not load its bundled {CASCADE_FILE} (OpenCV "
                           f"{cv2.__version__}); install opencv-python-headless 4.x, whose "
                           "wheel ships the Haar cascades")
    return detector


def check_detector(name: str) -> str:
    """`name` if it is a known detector, else a FerflowError listing the choices."""
    if name not in DETECTORS:
        raise FerflowError(f"unknown face detector {name!r}: choose one of "
                           f"{', '.join(DETECTORS)}")
    return name


@cache
def _warn_fallback(reason: str) -> None:
    print(f"ferflow: {reason}; detecting faces with the Haar cascade instead", file=sys.stderr)


def _haar_boxes(small: np.ndarray, side: int, min_neighbors: int) -> np.ndarray:
    # Equalising only for detection: the classifier sees the original pixels, as in training.
    equalised = _cv2().equalizeHist(small)
    return np.asarray(_cascade().detectMultiScale(
        equalised, scaleFactor=1.1, minNeighbors=min_neighbors, minSize=(side, side)))


def detect_faces(grey: np.ndarray, detector: str = DEFAULT_DETECTOR,
                 min_neighbors: int = 5) -> list[Box]:
    """Boxes of the faces in a grey uint8 image, left to right. `min_neighbors` tunes Haar."""
    check_detector(detector)
    cv2 = _cv2()
    height, width = grey.shape
    scale = min(1.0, DETECT_MAX_SIDE / max(height, width))
    small = grey if scale == 1.0 else cv2.resize(
        grey, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA)
    small = np.ascontiguousarray(small, dtype=np.uint8)
    side = max(24, min(small.shape) // 12)
    found: Any = None
    if detector == "mtcnn":
        from ferflow.serving.mtcnn_faces import DetectorUnavailable, mtcnn_boxes

        try:
            found = mtcnn_boxes(small, side)
        except DetectorUnavailable as exc:
            _warn_fallback(str(exc))
    if found is None:
        found = _haar_boxes(small, side, min_neighbors)
    boxes = [Box(*(round(v / scale) for v in box)) for box in np.asarray(found).reshape(-1, 4)]
    return sorted(boxes, key=lambda b: (b.x, b.y))


def crop_face(grey: np.ndarray, box: Box) -> np.ndarray:
    """The box's pixels as a 48x48 grey face."""
    return resize_face(grey[box.y : box.y + box.h, box.x : box.x + box.w])
