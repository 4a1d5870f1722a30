"""Face detection with OpenCV's bundled Haar cascade (frontal faces).

Haar cascades are old but small, fast on a CPU and shipped inside `opencv-python-headless`,
so detection needs no download. They find upright frontal faces; profiles and strongly
rotated faces are missed.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

from ferflow.errors import FerflowError
from ferflow.serving.images import resize_face

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
def _detector() -> Any:
    cv2 = _cv2()
    detector = cv2.CascadeClassifier(cv2.data.haarcascades + CASCADE_FILE)
    if detector.empty():
        raise FerflowError(f"OpenCV could not load its bundled {CASCADE_FILE} (OpenCV "
                           f"{cv2.__version__}); install opencv-python-headless 4.x, whose "
                           "wheel ships the Haar cascades")
    return detector


def detect_faces(grey: np.ndarray, min_neighbors: int = 5) -> list[Box]:
    """Boxes of the frontal faces in a grey uint8 image, left to right."""
    cv2 = _cv2()
    height, width = grey.shape
    scale = min(1.0, DETECT_MAX_SIDE / max(height, width))
    small = grey if scale == 1.0 else cv2.resize(
        grey, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA)
    # Equalising only for detection: the classifier sees the original pixels, as in training.
    small = cv2.equalizeHist(np.ascontiguousarray(small, dtype=np.uint8))
    side = max(24, min(small.shape) // 12)
    found = _detector().detectMultiScale(small, scaleFactor=1.1, minNeighbors=min_neighbors,
                                         minSize=(side, side))
    boxes = [Box(*(round(v / scale) for v in box)) for box in np.asarray(found).reshape(-1, 4)]
    return sorted(boxes, key=lambda b: (b.x, b.y))


def crop_face(grey: np.ndarray, box: Box) -> np.ndarray:
    """The box's pixels as a 48x48 grey face."""
    return resize_face(grey[box.y : box.y + box.h, box.x : box.x + box.w])
