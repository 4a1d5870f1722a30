"""An external data set's images → 48x48 grey faces, the way `ferflow predict` reads an image:
any PIL-readable file in grey, resized whole or cropped to the largest face the detector finds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ferflow import IMAGE_SIZE
from ferflow.config import ExternalDataset
from ferflow.data.face_folders import FaceSet, folder_digest, list_face_folder
from ferflow.errors import FerflowError
from ferflow.progress import track
from ferflow.serving.faces import crop_face, detect_faces
from ferflow.serving.images import read_image, resize_face

AUTO_WHOLE_MAX_SIDE = 100
"""`crop: auto` uses a square image of at most this side whole (it is already a face crop)."""


def face_of(grey: np.ndarray, crop: str, detector: str) -> np.ndarray | None:
    """The (48, 48) face of a grey image under the `crop` rule; None when detection finds none.
    Several faces: the largest (a data set's image shows its labelled subject up front)."""
    height, width = grey.shape
    whole = crop == "whole" or (crop == "auto" and height == width
                                and height <= AUTO_WHOLE_MAX_SIDE)
    if whole:
        return resize_face(grey)
    boxes = detect_faces(grey, detector)
    if not boxes:
        return None
    return crop_face(grey, max(boxes, key=lambda b: (b.w * b.h, -b.x, -b.y)))


def load_face_set(dataset: ExternalDataset, root: Path) -> FaceSet:
    """Read, crop and label every image of `dataset` (relative paths from `root`).

    FerflowError for a bad folder or class name, an unreadable image (naming it), or a data
    set in which no image has a face."""
    folder = dataset.folder(root)
    listing = list_face_folder(folder, dataset.name, dataset.ignore)
    faces, labels, no_face = [], [], []
    for path, label in track(zip(listing.files, listing.labels, strict=True),
                             len(listing.files), f"read {dataset.name}", unit="img"):
        face = face_of(read_image(path), dataset.crop, dataset.detector)
        if face is None:
            no_face.append(path.relative_to(folder).as_posix())
        else:
            faces.append(face)
            labels.append(label)
    if not faces:
        raise FerflowError(
            f"{folder}: the {dataset.detector} face finder found no face in any of its "
            f"{len(listing.files)} images (evaluate.external {dataset.name!r}); if they are "
            "face crops already, set crop: whole")
    x = np.stack(faces).astype(np.float32).reshape(-1, IMAGE_SIZE, IMAGE_SIZE, 1)
    return FaceSet(name=dataset.name, path=dataset.path, crop=dataset.crop,
                   digest=folder_digest(folder), x=x, y=np.asarray(labels, dtype=np.int64),
                   images=len(listing.files), no_face=tuple(no_face), ignored=listing.ignored)


def load_face_sets(datasets: tuple[ExternalDataset, ...], root: Path) -> list[FaceSet]:
    return [load_face_set(d, root) for d in datasets]
