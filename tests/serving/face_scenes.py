"""Real face photos, and scenes composed from them, with the faces' known boxes.

The photos ship inside installed packages, so nothing is downloaded: Grace Hopper's portrait
(matplotlib's sample data) and the astronaut Eileen Collins (scikit-image, a dev dependency).
Each scene cuts one face with its surroundings (hair, collar), scales it, tilts it, optionally
lights it from one side, and pastes it through a round mask onto a textured background. Shared
by tests/serving/test_detectors.py and benchmarks/face_detectors.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from itertools import product

import matplotlib.cbook
import numpy as np
from PIL import Image, ImageDraw, ImageFilter

BoxTuple = tuple[int, int, int, int]
"""(x, y, w, h) in pixels."""

ANGLES = (-30, -15, 0, 15, 30)
FACE_SIDES = (56, 110)
LIGHTING = ("even", "side")
SCENE_SIDE = 320


@dataclass(frozen=True)
class Scene:
    name: str
    grey: np.ndarray
    faces: tuple[BoxTuple, ...]


@cache
def portraits() -> dict[str, tuple[np.ndarray, BoxTuple]]:
    """Name → (grey photo, face box), the boxes drawn by hand from the pictures."""
    import skimage.data

    hopper = matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    with Image.open(hopper) as image:
        hopper_grey = np.asarray(image.convert("L"))
    astronaut = np.asarray(Image.fromarray(skimage.data.astronaut()).convert("L"))
    return {"hopper": (hopper_grey, (160, 105, 210, 230)),
            "astronaut": (astronaut, (175, 60, 95, 115))}


def iou(a: BoxTuple, b: BoxTuple) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    w = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    h = max(0, min(ay + ah, by + bh) - max(ay, by))
    return w * h / (aw * ah + bw * bh - w * h)


def background(seed: int, side: int = SCENE_SIDE) -> np.ndarray:
    """Smoothed noise over a gradient: texture with edges, and no face."""
    rng = np.random.default_rng(seed)
    coarse = Image.fromarray(rng.integers(40, 220, (side // 16, side // 16), dtype=np.uint8))
    texture = np.asarray(coarse.resize((side, side), Image.Resampling.BICUBIC), np.float32)
    ramp = np.linspace(-30, 30, side, dtype=np.float32)[None, :]
    grain = rng.normal(0, 6, (side, side))
    return np.clip(texture + ramp + grain, 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class FacePatch:
    """A face with its surroundings, ready to paste: pixels, round mask, face box in the patch."""

    image: Image.Image
    mask: Image.Image
    face: BoxTuple

    def paste_onto(self, scene: Image.Image, at: tuple[int, int]) -> BoxTuple:
        """Paste at `at` (top left); the face's box in the scene."""
        scene.paste(self.image, at, self.mask)
        x, y, w, h = self.face
        return (at[0] + x, at[1] + y, w, h)


def face_patch(face_name: str, face_side: int, angle: float = 0, lighting: str = "even"
               ) -> FacePatch:
    """A portrait's face `face_side` pixels wide, tilted by `angle` degrees (counter-clockwise),
    evenly lit or lit from the left with the right half in shadow."""
    photo, (fx, fy, fw, fh) = portraits()[face_name]
    # A square twice the face's size around its centre, clipped to the photo.
    cx, cy, half = fx + fw / 2, fy + fh / 2, max(fw, fh)
    left, top = max(0, round(cx - half)), max(0, round(cy - half))
    right, bottom = min(photo.shape[1], round(cx + half)), min(photo.shape[0], round(cy + half))
    scale = face_side / fw
    patch = Image.fromarray(photo[top:bottom, left:right]).resize(
        (round((right - left) * scale), round((bottom - top) * scale)), Image.Resampling.LANCZOS)
    mask = Image.new("L", patch.size, 0)
    ImageDraw.Draw(mask).ellipse((0, 0, patch.size[0] - 1, patch.size[1] - 1), fill=255)
    mask = mask.filter(ImageFilter.GaussianBlur(3))
    centre = ((cx - left) * scale, (cy - top) * scale)  # the face's centre in the patch
    patch = patch.rotate(angle, resample=Image.Resampling.BICUBIC, center=centre)
    mask = mask.rotate(angle, resample=Image.Resampling.BICUBIC, center=centre)
    if lighting == "side":
        ramp = np.linspace(1.3, 0.15, patch.size[0], dtype=np.float32)[None, :]
        shaded = np.clip(np.asarray(patch, np.float32) * ramp, 0, 255)
        patch = Image.fromarray(shaded.astype(np.uint8))
    w, h = round(fw * scale), round(fh * scale)
    return FacePatch(patch, mask, (round(centre[0] - w / 2), round(centre[1] - h / 2), w, h))


def compose(face_name: str, angle: float, face_side: int, lighting: str, seed: int) -> Scene:
    """One face on a background of its own, at a place drawn from `seed`."""
    patch = face_patch(face_name, face_side, angle, lighting)
    rng = np.random.default_rng(seed)
    scene = Image.fromarray(background(seed))
    room = (SCENE_SIDE - patch.image.size[0], SCENE_SIDE - patch.image.size[1])
    at = (int(rng.integers(0, max(1, room[0]))), int(rng.integers(0, max(1, room[1]))))
    box = patch.paste_onto(scene, at)
    return Scene(f"{face_name} {angle:+d}° {face_side}px {lighting}", np.asarray(scene), (box,))


def two_face_photo() -> Scene:
    """A 480x320 photo with both portraits' faces, 100 px wide and upright, side by side."""
    scene = Image.fromarray(background(99, 480)[:320])
    boxes = (face_patch("hopper", 100).paste_onto(scene, (10, 50)),
             face_patch("astronaut", 100).paste_onto(scene, (235, 40)))
    return Scene("two faces", np.asarray(scene), boxes)


def composed_scenes() -> Iterator[Scene]:
    """Every portrait at every angle, size and lighting: 40 scenes of one face each."""
    cases = product(portraits(), ANGLES, FACE_SIDES, LIGHTING)
    for seed, (name, angle, side, lighting) in enumerate(cases):
        yield compose(name, angle, side, lighting, seed)


def face_free_scenes() -> Iterator[Scene]:
    """Images with no face: flat grey, noise, and the composed scenes' bare backgrounds."""
    yield Scene("flat", np.full((SCENE_SIDE, SCENE_SIDE), 128, np.uint8), ())
    noise = np.random.default_rng(0).integers(0, 256, (SCENE_SIDE, SCENE_SIDE))
    yield Scene("noise", noise.astype(np.uint8), ())
    for seed in range(8):
        yield Scene(f"background {seed}", background(seed), ())


def match(found: list[BoxTuple], truth: tuple[BoxTuple, ...], threshold: float = 0.3
          ) -> tuple[int, int]:
    """(faces found, false positives): a box matches an unmatched true face at IoU ≥ threshold."""
    left = list(truth)
    hits = 0
    for box in found:
        best = max(left, key=lambda t: iou(box, t), default=None)
        if best is not None and iou(box, best) >= threshold:
            left.remove(best)
            hits += 1
    return hits, len(found) - hits
