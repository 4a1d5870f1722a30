from __future__ import annotations

import matplotlib.cbook
import numpy as np

from ferflow.serving.faces import Box, crop_face, detect_faces
from ferflow.serving.images import read_image


def iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    w = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    h = max(0, min(ay + ah, by + bh) - max(ay, by))
    return w * h / (aw * ah + bw * bh - w * h)


def test_detects_the_face_in_a_real_photo() -> None:
    # Matplotlib ships a public-domain portrait (Grace Hopper, 512x600): a real face.
    photo = read_image(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
    boxes = detect_faces(photo)
    assert len(boxes) == 1
    # Her face spans about x 150..380, y 100..330 in the picture.
    assert iou(tuple(boxes[0].as_list()), (150, 100, 230, 230)) > 0.6


def test_detects_several_faces_left_to_right(face_photo) -> None:
    photo, placed = face_photo
    boxes = detect_faces(photo)
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


def test_no_faces_in_flat_or_noise_images() -> None:
    assert detect_faces(np.full((300, 300), 128, np.uint8)) == []
    noise = np.random.default_rng(0).integers(0, 256, (300, 300)).astype(np.uint8)
    assert detect_faces(noise) == []


def test_crop_face_resizes_the_box() -> None:
    grey = np.zeros((100, 100), np.uint8)
    grey[10:60, 20:70] = 200
    face = crop_face(grey, Box(20, 10, 50, 50))
    assert face.shape == (48, 48) and face.dtype == np.uint8
    assert face.min() == 200
