from __future__ import annotations

import numpy as np
import pytest
from face_scenes import iou, portraits

from ferflow.serving.faces import DETECTORS, Box, crop_face, detect_faces


@pytest.mark.parametrize("detector", DETECTORS)
def test_detects_the_face_in_a_real_photo(detector: str) -> None:
    # Matplotlib ships a public-domain portrait (Grace Hopper, 512x600): a real face.
    photo, face = portraits()["hopper"]
    boxes = detect_faces(photo, detector)
    assert len(boxes) == 1
    assert iou(tuple(boxes[0].as_list()), face) > 0.6


@pytest.mark.parametrize("detector", DETECTORS)
def test_detects_several_faces_left_to_right(face_photo, detector: str) -> None:
    photo, placed = face_photo
    boxes = detect_faces(photo, detector)
    assert len(boxes) == 2
    for box, where in zip(boxes, placed, strict=True):
        assert iou(tuple(box.as_list()), where) > 0.4


def test_large_photos_are_shrunk_for_detection_and_boxes_mapped_back(face_photo) -> None:
    photo, placed = face_photo
    big = np.kron(photo, np.ones((4, 4), dtype=np.uint8))  # 1920x1280, above DETECT_MAX_SIDE
    boxes = detect_faces(big)
    assert len(boxes) == 2
    for box, (x, y, w, h) in zip(boxes, placed, strict=True):
        assert iou(tuple(box.as_list()), (4 * x, 4 * y, 4 * w, 4 * h)) > 0.4


@pytest.mark.parametrize("detector", DETECTORS)
def test_no_faces_in_flat_or_noise_images(detector: str) -> None:
    assert detect_faces(np.full((300, 300), 128, np.uint8), detector) == []
    noise = np.random.default_rng(0).integers(0, 256, (300, 300)).astype(np.uint8)
    assert detect_faces(noise, detector) == []


def test_crop_face_resizes_the_box() -> None:
    grey = np.zeros((100, 100), np.uint8)
    grey[10:60, 20:70] = 200
    face = crop_face(grey, Box(20, 10, 50, 50))
    assert face.shape == (48, 48) and face.dtype == np.uint8
    assert face.min() == 200
