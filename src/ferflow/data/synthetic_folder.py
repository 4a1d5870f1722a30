"""The embedded default's external data set: synthetic faces written as a labelled image folder
the way other data sets come (`<emotion>/<image>`), so that `evaluate.external` runs on every
`make run`.

The faces come from `draw_faces` with their own seed (none of them is a training face), and are
written the ways real folders differ: 48x48 grey PNGs, larger colour JPEGs (used whole), and
faces pasted into a larger colour scene (found by the face finder). The folder names are other
data sets' spellings in mixed case (`Anger`, `happiness`, `Surprised`, ...), and a CK+-style
`contempt` folder, which params.yaml ignores.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from ferflow import EMOTIONS
from ferflow.atomic import atomic_path
from ferflow.data.synthetic import draw_faces

PER_CLASS = 8
SEED = 2019
NOISE = 0.06
FOLDER_NAMES = ("Anger", "disgusted", "Fearful", "happiness", "Sad", "surprised", "NEUTRAL")
"""Class folder per label: aliases and mixed case, as other data sets name them."""
CONTEMPT_IMAGES = 2
SCENE_SIZE = (220, 170)
"""(width, height) of the scenes a face is pasted into."""


def _tinted(grey: np.ndarray, rng: np.random.Generator) -> Image.Image:
    """An RGB picture of a grey one, each channel scaled a little differently."""
    gains = rng.uniform(0.8, 1.1, 3)
    rgb = np.clip(grey[..., None].astype(np.float64) * gains, 0, 255)
    return Image.fromarray(np.rint(rgb).astype(np.uint8), mode="RGB")


def _scene(face: np.ndarray, rng: np.random.Generator) -> Image.Image:
    """The face enlarged and pasted at a random place into a smooth colour gradient."""
    width, height = SCENE_SIZE
    xs, ys = np.meshgrid(np.linspace(0, 1, width), np.linspace(0, 1, height))
    base = rng.uniform(40, 200, 3)
    slope = rng.uniform(-50, 50, (2, 3))
    rgb = base + xs[..., None] * slope[0] + ys[..., None] * slope[1]
    rgb += rng.normal(0, 6, rgb.shape)
    scene = Image.fromarray(np.clip(np.rint(rgb), 0, 255).astype(np.uint8), mode="RGB")
    side = int(rng.integers(96, 128))
    big = _tinted(np.asarray(Image.fromarray(face).resize((side, side),
                                                          Image.Resampling.BILINEAR)), rng)
    scene.paste(big, (int(rng.integers(0, width - side)), int(rng.integers(0, height - side))))
    return scene


def _encoded(picture: Image.Image, kind: str) -> bytes:
    out = io.BytesIO()
    picture.save(out, format=kind, **({"quality": 92} if kind == "JPEG" else {}))
    return out.getvalue()


def synthetic_folder_files(per_class: int = PER_CLASS, seed: int = SEED) -> dict[str, bytes]:
    """Relative path → file bytes of the folder; the same for the same arguments."""
    labels = np.repeat(np.arange(len(EMOTIONS)), per_class)
    # Contempt is no emotion of the 7: its faces are drawn as neutral ones.
    faces = draw_faces(np.concatenate([labels, np.full(CONTEMPT_IMAGES, len(EMOTIONS) - 1)]),
                       NOISE, seed)
    rng = np.random.default_rng(seed + 1)
    files: dict[str, bytes] = {}
    for i, (label, face) in enumerate(zip(labels, faces[: len(labels)], strict=True)):
        folder = FOLDER_NAMES[label]
        kind = i % 3
        if kind == 0:
            files[f"{folder}/{i:03d}.png"] = _encoded(Image.fromarray(face, mode="L"), "PNG")
        elif kind == 1:
            side = int(rng.integers(64, 97))
            picture = _tinted(np.asarray(Image.fromarray(face).resize(
                (side, side), Image.Resampling.BILINEAR)), rng)
            files[f"{folder}/{i:03d}.jpg"] = _encoded(picture, "JPEG")
        else:
            files[f"{folder}/{i:03d}_scene.png"] = _encoded(_scene(face, rng), "PNG")
    for j, face in enumerate(faces[len(labels):]):
        files[f"contempt/{j:03d}.png"] = _encoded(Image.fromarray(face, mode="L"), "PNG")
    return files


def write_synthetic_folder(target: Path, per_class: int = PER_CLASS, seed: int = SEED) -> int:
    """Write the folder at `target` atomically (replacing what was there); the image count."""
    files = synthetic_folder_files(per_class, seed)
    with atomic_path(target, directory=True) as tmp:
        for relative, data in files.items():
            path = tmp / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
    return len(files)
