"""Labelled image folders from elsewhere (CK+, JAFFE, your own photos): `<dir>/<emotion>/*.png|jpg`.

A class folder's name maps to one of the 7 emotions, case-insensitively and with the usual
spellings of other data sets (`happiness`, `surprised`, `fearful`, ...). A folder whose name is
none of them is an error unless the data set lists it under `ignore` (CK+'s `contempt`), so a
typo never drops a class silently. Classes may be missing: CK+ has no neutral folder in some
releases. The images may have any size and colour; finding and cropping the faces is the
serving room's job (`ferflow.serving.folder_faces`), which fills a `FaceSet` from this listing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ferflow import EMOTIONS
from ferflow.errors import FerflowError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")

CLASS_ALIASES: dict[str, str] = {
    "anger": "angry", "disgusted": "disgust", "fearful": "fear", "afraid": "fear",
    "happiness": "happy", "joy": "happy", "sadness": "sad", "surprised": "surprise",
}
"""Other data sets' folder names (lower case) → ferflow's emotion names."""


def accepted_names() -> list[str]:
    return sorted({*EMOTIONS, *CLASS_ALIASES})


def class_of_folder(name: str) -> int | None:
    """The emotion label of a class folder's name, or None when it names none of them."""
    key = name.strip().lower()
    key = CLASS_ALIASES.get(key, key)
    return EMOTIONS.index(key) if key in EMOTIONS else None


@dataclass(frozen=True)
class FolderListing:
    """The images of a labelled folder tree, sorted by class then relative path."""

    root: Path
    files: tuple[Path, ...]
    labels: np.ndarray
    ignored: dict[str, int] = field(default_factory=dict)
    """Ignored class folder → its number of images."""


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and
                  p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))


def list_face_folder(root: Path, name: str, ignore: tuple[str, ...] = ()) -> FolderListing:
    """The images under `root/<emotion>/` (subfolders included) with their labels.

    FerflowError for a missing root, a class folder that maps to no emotion and is not in
    `ignore`, or no image at all; `name` is the data set's name in `evaluate.external`.
    """
    setting = f"evaluate.external {name!r}"
    if not root.is_dir():
        raise FerflowError(f"{root}: no such folder ({setting}); point its path at a folder "
                           "of <emotion>/ subfolders of images (params.yaml's default, "
                           "data/external/synthetic-faces, is made by `dvc repro external`)")
    skip = {n.strip().lower() for n in ignore}
    files: list[tuple[int, Path]] = []
    ignored: dict[str, int] = {}
    for sub in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if sub.name.lower() in skip:
            ignored[sub.name] = len(_images_in(sub))
            continue
        label = class_of_folder(sub.name)
        if label is None:
            raise FerflowError(
                f"{sub}: class folder {sub.name!r} of {setting} is none of the 7 emotions. "
                f"Accepted names (any case): {', '.join(accepted_names())}. Rename the folder, "
                f"or add it to the data set's ignore list (ignore: [{sub.name.lower()}]) to "
                "leave its images out.")
        files += [(label, p) for p in _images_in(sub)]
    if not files:
        raise FerflowError(f"{root}: no .png or .jpg images in its emotion folders ({setting}); "
                           "the layout is <dir>/<emotion>/<image>, e.g. happy/001.png")
    files.sort(key=lambda item: (item[0], item[1].relative_to(root).as_posix()))
    return FolderListing(root, tuple(p for _, p in files),
                         np.array([label for label, _ in files], dtype=np.int64), ignored)


def folder_digest(root: Path) -> str:
    """sha256 over every file under `root` (hidden ones aside): each one's relative path and
    bytes, in sorted order, so a renamed, added, removed or edited image changes it."""
    digest = hashlib.sha256()
    files = sorted((p.relative_to(root).as_posix(), p) for p in root.rglob("*")
                   if p.is_file() and not any(part.startswith(".")
                                              for part in p.relative_to(root).parts))
    for relative, path in files:
        data = path.read_bytes()
        digest.update(f"{relative}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()


@dataclass(frozen=True)
class FaceSet:
    """An external data set's faces, ready to score."""

    name: str
    path: str
    crop: str
    digest: str
    x: np.ndarray
    """(N, 48, 48, 1) float32 grey faces 0..255, one per image a face was found in."""
    y: np.ndarray
    """(N,) labels."""
    images: int
    """Images listed (faces found + `no_face`)."""
    no_face: tuple[str, ...] = ()
    """Images (paths relative to the folder) in which the face finder found no face."""
    ignored: dict[str, int] = field(default_factory=dict)
