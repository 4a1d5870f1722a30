"""Procedurally drawn 48x48 grey faces: ferflow's embedded default data set.

Every face is a soft-edged oval head (with hair, neck and a shaded nose) on a varied background,
drawn with numpy on coordinate grids, in batches. The expression lives in four features, each set
per emotion and then varied per face:

- brows: height above the eyes and tilt (inner ends lowered = angry, raised = sad/fear);
- eyes: opening (wide, normal, narrowed; the pupil stays the same size, so wide eyes show white);
- mouth: corner curvature (smile/frown), width, opening (closed line, open, round 'O') and, for
  disgust, a one-sided sneer;
- nose: wrinkles beside the nose (disgust only).

Recipes (0-6 is the FER2013 label):

- 0 angry: brows lowered and angled down toward the nose, eyes narrowed, lips pressed flat or
  slightly down.
- 1 disgust: brows lowered, eyes narrowed, nose wrinkled, mouth raised and lopsided (one corner
  up, one down), sometimes slightly open.
- 2 fear: brows raised with the inner ends up, eyes wide, mouth open and stretched wide with the
  corners pulled down.
- 3 happy: smile (corners up), often open showing teeth, eyes a little narrowed by the cheeks.
- 4 sad: inner brow ends raised, eyes a little narrowed, mouth closed in a frown.
- 5 surprise: brows raised high and arched, eyes wide, mouth a round open 'O'.
- 6 neutral: level brows, normal eyes, flat closed mouth.

Each face draws an expression strength between weak and full, blending its class recipe with the
neutral one, and every feature gets its own per-face jitter; pose (rotation, shift), face size,
identity (skin, hair, eye spacing, ...), lighting (brightness, contrast, a gradient), background
and pixel noise vary too. So the classes overlap at the weak end: a small CNN learns them well
above chance but not perfectly.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ferflow import EMOTIONS, IMAGE_SIZE
from ferflow.atomic import atomic_path
from ferflow.config import SyntheticParams
from ferflow.data.fer_csv import USAGES, FerTable, make_table, write_fer2013_csv

# FER2013's class shares (train split): disgust is rare, happy is common.
FER2013_CLASS_SHARES: tuple[float, ...] = (0.139, 0.015, 0.143, 0.251, 0.168, 0.110, 0.173)

# Expression features per emotion (index = label). Units are pixels of the canonical face
# (before scaling): brow_raise up is positive, brow_tilt > 0 raises the inner ends, curve > 0
# lifts the mouth corners (smile), open is the half-height of the mouth opening.
_FEATURES = ("brow_raise", "brow_tilt", "brow_arch", "eye_open", "curve", "mouth_open",
             "mouth_width", "sneer", "wrinkle", "mouth_shift")
_RECIPES = np.array([
    # raise  tilt  arch  eye   curve  open  width sneer wrinkle shift
    [-2.0, -2.4, 0.0, 1.05, -0.6, 0.0, 5.6, 0.0, 0.0, 0.0],   # angry
    [-1.3, -0.8, 0.0, 0.95, -0.8, 0.35, 5.6, 1.8, 1.0, -1.2],  # disgust
    [1.8, 1.8, 0.2, 2.55, -1.3, 1.5, 7.6, 0.0, 0.0, 0.3],     # fear
    [0.3, 0.0, 0.3, 1.25, 2.7, 1.1, 7.6, 0.0, 0.0, 0.0],      # happy
    [0.4, 2.2, 0.0, 1.25, -2.3, 0.0, 5.6, 0.0, 0.0, 0.3],     # sad
    [3.0, 0.3, 1.4, 2.7, 0.0, 3.0, 3.4, 0.0, 0.0, 0.6],       # surprise
    [0.0, 0.0, 0.3, 1.7, 0.0, 0.0, 6.0, 0.0, 0.0, 0.0],       # neutral
], dtype=np.float32)
# Per-face jitter (standard deviation) of each feature.
_JITTER = np.array([0.55, 0.6, 0.35, 0.3, 0.55, 0.35, 0.7, 0.4, 0.25, 0.4], dtype=np.float32)
_NEUTRAL = len(EMOTIONS) - 1

Value = np.ndarray | float  # a per-face column (n, 1, 1) or a constant

_MIN_PER_CLASS = 4  # enough for one row in each split plus one
_BATCH = 32  # faces drawn at once: arrays that stay in cache (measured 1.5x faster than 256)


def allocate(total: int, shares: Sequence[float], minimum: int) -> np.ndarray:
    """Split `total` into integer parts proportional to `shares` (largest remainder), each part
    at least `minimum` (taken from the largest part); needs total >= minimum * len(shares)."""
    weights = np.asarray(shares, dtype=np.float64)
    exact = total * weights / weights.sum()
    counts = np.floor(exact).astype(np.int64)
    order = np.argsort(-(exact - counts), kind="stable")
    counts[order[: total - counts.sum()]] += 1
    for k in np.flatnonzero(counts < minimum):
        while counts[k] < minimum:
            counts[np.argmax(counts)] -= 1
            counts[k] += 1
    return counts


def _assign(params: SyntheticParams, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Labels and usages of every row, stratified by class and shuffled.

    Every class gets at least `_MIN_PER_CLASS` rows and every split at least one of each class,
    so even the smallest data set (70 rows, FER2013's 1.5% disgust) has all classes everywhere.
    """
    shares = FER2013_CLASS_SHARES if params.class_balance == "fer2013" else (1.0,) * len(EMOTIONS)
    split_shares = (params.splits.train, params.splits.val, params.splits.test)
    labels: list[np.ndarray] = []
    usages: list[np.ndarray] = []
    for label, n in enumerate(allocate(params.rows, shares, _MIN_PER_CLASS)):
        per_split = allocate(int(n), split_shares, 1)
        labels.append(np.full(n, label, dtype=np.uint8))
        usages.append(np.repeat(np.array(USAGES, dtype=object), per_split))
    order = rng.permutation(params.rows)
    return np.concatenate(labels)[order], np.concatenate(usages)[order]


def _soft(signed_distance: np.ndarray, width: float = 0.8) -> np.ndarray:
    """Coverage 0..1 of a shape from its signed distance (negative inside), with a soft edge."""
    return np.clip(0.5 - signed_distance / width, 0.0, 1.0)


def _blend(image: np.ndarray, alpha: np.ndarray, tone: Value) -> None:
    """Paint `tone` over `image` where `alpha` covers it (in place)."""
    image += alpha * (tone - image)


def _ellipse(u: np.ndarray, v: np.ndarray, cu: Value, cv: Value, ru: Value, rv: Value
             ) -> np.ndarray:
    """Approximate signed distance (pixels) to an axis-aligned ellipse."""
    du = (u - cu) / ru
    dv = (v - cv) / rv
    return (np.sqrt(du * du + dv * dv) - 1.0) * np.minimum(ru, rv)


def _segment(u: np.ndarray, v: np.ndarray, u0: Value, v0: Value, u1: Value, v1: Value
             ) -> np.ndarray:
    """Distance (pixels) to the segment (u0, v0)-(u1, v1)."""
    du, dv = u1 - u0, v1 - v0
    t = np.clip(((u - u0) * du + (v - v0) * dv) / (du * du + dv * dv), 0.0, 1.0)
    pu = u - u0 - t * du
    pv = v - v0 - t * dv
    return np.sqrt(pu * pu + pv * pv)


def _col(values: np.ndarray) -> np.ndarray:
    """Per-face values shaped to broadcast over (faces, 48, 48)."""
    return values.astype(np.float32)[:, None, None]


def _draw_batch(labels: np.ndarray, noise: float, rng: np.random.Generator) -> np.ndarray:
    """Draw one face per label; (n, 48, 48) uint8."""
    n = len(labels)
    f32 = np.float32

    def uniform(low: float, high: float) -> np.ndarray:
        return _col(rng.uniform(low, high, n))

    def normal(mean: float, sd: float) -> np.ndarray:
        return _col(rng.normal(mean, sd, n))

    # Expression: blend the class recipe with neutral by a per-face strength, then jitter.
    strength = rng.uniform(0.5, 1.0, (n, 1)).astype(f32)
    recipe = _RECIPES[_NEUTRAL] + strength * (_RECIPES[labels] - _RECIPES[_NEUTRAL])
    feats = recipe + rng.normal(0.0, 1.0, recipe.shape).astype(f32) * _JITTER
    # The sneer lifts either corner.
    feats[:, _FEATURES.index("sneer")] *= rng.choice(np.array([-1.0, 1.0], dtype=f32), n)
    (brow_raise, brow_tilt, brow_arch, eye_open, curve, mouth_open, mouth_width, sneer,
     wrinkle, mouth_shift) = (_col(feats[:, i]) for i in range(len(_FEATURES)))
    eye_open = np.maximum(eye_open, 0.45)
    mouth_open = np.maximum(mouth_open, 0.0)
    mouth_width = np.maximum(mouth_width, 2.5)

    # Pose and size: pixel grid → canonical face coordinates (u right, v down, face centre 0).
    angle = rng.normal(0.0, 0.12, n)
    scale = rng.uniform(0.85, 1.12, n)
    cos, sin = _col(np.cos(angle) / scale), _col(np.sin(angle) / scale)
    cx = uniform(-2.5, 2.5) + (IMAGE_SIZE - 1) / 2
    cy = uniform(-2.0, 2.5) + (IMAGE_SIZE - 1) / 2
    grid = np.arange(IMAGE_SIZE, dtype=f32)
    x, y = grid[None, None, :] - cx, grid[None, :, None] - cy
    u = cos * x + sin * y
    v = -sin * x + cos * y

    # Background: a level plus a gradient, sometimes light, sometimes dark.
    bg = uniform(20, 230) + uniform(-2.0, 2.0) * (grid[None, None, :] - 23.5) \
        + uniform(-2.0, 2.0) * (grid[None, :, None] - 23.5)
    image = np.broadcast_to(bg, (n, IMAGE_SIZE, IMAGE_SIZE)).astype(f32)

    # Head: neck, face oval, hair cap (identity: skin and hair tones, head shape).
    skin = uniform(120, 205)
    hair = uniform(15, 110)
    rx, ry = uniform(14.0, 16.5), uniform(18.0, 20.5)
    neck = _soft(np.maximum(np.abs(u) - rx * 0.55, -(v - ry * 0.6)), 1.0)
    _blend(image, neck, skin * 0.8)
    head = _soft(_ellipse(u, v, 0.0, 0.0, rx, ry), 1.2)
    hairline = uniform(-13.5, -10.5)
    hair_cover = head * _soft(v - hairline - 0.1 * u * u / rx, 1.2)
    # Side shading gives the face roundness.
    face_tone = skin * (1.0 - 0.18 * (u / rx) ** 2)
    _blend(image, head, face_tone)
    # Hair: a cap over the top of the head and the forehead above the (curved) hairline.
    _blend(image, _soft(_ellipse(u, v, 0.0, -2.0, rx + 1.0, ry + 0.5), 1.2)
           * _soft(v - hairline + 2.0, 1.5), hair)
    _blend(image, hair_cover, hair)

    # Eyes: a shaded socket, a white of the eye whose height is the opening, a fixed-size pupil.
    eye_dx = uniform(5.6, 7.0)
    eye_y = uniform(-4.0, -2.5)
    eye_w = uniform(2.6, 3.3)
    pupil = uniform(1.3, 1.7)
    gaze = normal(0.0, 0.4)
    brow_thick = uniform(0.8, 1.3)
    for side in (-1.0, 1.0):
        eu = side * eye_dx
        socket = _soft(_ellipse(u, v, eu, eye_y, eye_w + 0.6, eye_open + 0.7), 1.0)
        _blend(image, socket, skin * 0.72)
        eye = _soft(_ellipse(u, v, eu, eye_y, eye_w, eye_open), 0.9)
        _blend(image, eye, skin * 0.35 + 150)
        iris = eye * _soft(_ellipse(u, v, eu + gaze, eye_y, pupil, pupil), 0.9)
        _blend(image, iris, 25.0)

        # Brows: a thick segment from the inner to the outer end; tilt moves the inner end.
        brow_base = eye_y - 4.2 - brow_raise
        inner_u, outer_u = eu - side * 3.6, eu + side * 3.4
        inner_v = brow_base - brow_tilt * 0.6
        outer_v = brow_base + brow_tilt * 0.25
        mid_u, mid_v = (inner_u + outer_u) / 2, (inner_v + outer_v) / 2 - brow_arch
        brow = np.minimum(_segment(u, v, inner_u, inner_v, mid_u, mid_v),
                          _segment(u, v, mid_u, mid_v, outer_u, outer_v))
        _blend(image, _soft(brow - brow_thick, 1.0), hair * 0.8 + 10)

    # Nose: a shaded ridge and nostrils; disgust adds wrinkles beside it.
    nose_len = uniform(5.0, 6.5)
    ridge = _soft(_segment(u, v, 0.8, 0.0, 1.2, nose_len) - 0.6, 1.5)
    _blend(image, ridge * 0.35, skin * 0.6)
    nostrils = _soft(_ellipse(np.abs(u), v, 1.7, nose_len + 0.5, 1.1, 0.7), 1.0)
    _blend(image, nostrils * 0.8, skin * 0.45)
    wrinkles = np.zeros_like(u)
    for dv in (0.0, 1.8):
        wrinkles = np.maximum(
            wrinkles, _soft(_segment(np.abs(u), v, 1.6, 1.2 + dv, 3.4, 0.6 + dv) - 0.35, 0.9))
    _blend(image, wrinkles * np.clip(wrinkle, 0.0, 1.0), skin * 0.45)

    # Mouth: a band around v = centre + curve * (0.4 - t^2) - sneer * t, t = u / width,
    # as thick as the opening; open mouths are dark inside, happy ones show teeth on top.
    mouth_v = uniform(8.5, 10.5) - mouth_shift
    t = u / mouth_width
    inside = np.clip(1.0 - t * t, 0.0, 1.0)
    centre = mouth_v + curve * (inside - 0.6) - sneer * t
    half = 0.7 + mouth_open * np.sqrt(inside)
    lips_tone = skin * 0.5
    band = np.maximum(np.abs(v - centre) - half, (np.abs(t) - 1.0) * mouth_width)
    _blend(image, _soft(band - 0.3, 1.0), lips_tone)
    opening = np.maximum(np.abs(v - centre) - (half - 0.8), (np.abs(t) - 0.92) * mouth_width)
    _blend(image, _soft(opening, 1.0) * np.clip(mouth_open, 0.0, 1.0), 20.0)
    teeth_on = _col((labels == 3) & (rng.uniform(size=n) < 0.7))
    teeth = _soft(opening, 1.0) * _soft(v - centre + 0.2, 0.8) * teeth_on \
        * np.clip(mouth_open - 0.3, 0.0, 1.0)
    _blend(image, teeth, 215.0)

    # Lighting: contrast, brightness and a directional gradient; then sensor noise.
    light_dir = rng.uniform(0, 2 * np.pi, n)
    grad = uniform(0.0, 0.025)
    light = 1.0 + grad * (_col(np.cos(light_dir)) * x + _col(np.sin(light_dir)) * y)
    contrast = uniform(0.7, 1.25)
    brightness = uniform(-25, 25)
    image = (image - 128.0) * contrast * light + 128.0 + brightness
    image += rng.normal(0.0, noise * 255.0, image.shape).astype(f32)
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def draw_faces(labels: np.ndarray, noise: float, seed: int) -> np.ndarray:
    """Faces (n, 48, 48) uint8 with the expressions of `labels`, deterministic for `seed`."""
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels, dtype=np.int64)
    out = np.empty((len(labels), IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)
    for start in range(0, len(labels), _BATCH):
        stop = start + _BATCH
        out[start:stop] = _draw_batch(labels[start:stop], noise, rng)
    return out


def generate_faces(params: SyntheticParams, seed: int) -> FerTable:
    """A FER2013-shaped table of synthetic faces: class balance and splits from `params`,
    every class in every split, rows shuffled; byte-identical for the same seed."""
    rng = np.random.default_rng(seed)
    labels, usages = _assign(params, rng)
    images = draw_faces(labels, params.noise, int(rng.integers(2**63)))
    return make_table(images, labels, usages)


def write_synthetic_csv(path: str | os.PathLike[str], params: SyntheticParams,
                        seed: int) -> FerTable:
    """Generate the synthetic faces and write them atomically as a FER2013 CSV at `path`."""
    table = generate_faces(params, seed)
    write_fer2013_csv(path, table)
    return table


def preview_grid(table: FerTable, path: str | os.PathLike[str], per_class: int = 8) -> None:
    """Write a PNG of up to `per_class` faces per emotion (one labelled row each), upscaled x2."""
    from PIL import Image, ImageDraw

    gap, label_w, zoom = 2, 40, 2
    cell = IMAGE_SIZE + gap
    grid = np.full((len(EMOTIONS) * cell + gap, label_w + per_class * cell + gap), 255, np.uint8)
    for label in range(len(EMOTIONS)):
        faces = table.images[table.labels == label][:per_class]
        top = gap + label * cell
        for i, face in enumerate(faces):
            left = label_w + gap + i * cell
            grid[top:top + IMAGE_SIZE, left:left + IMAGE_SIZE] = face
    picture = Image.fromarray(grid).resize(
        (grid.shape[1] * zoom, grid.shape[0] * zoom), Image.Resampling.NEAREST)
    draw = ImageDraw.Draw(picture)
    for label, name in enumerate(EMOTIONS):
        draw.text((6, (gap + label * cell + IMAGE_SIZE // 2) * zoom - 6), f"{label} {name}", fill=0)
    with atomic_path(Path(path)) as tmp:
        picture.save(tmp, format="PNG")
