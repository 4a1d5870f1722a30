"""Why a model decided: occlusion-sensitivity heatmaps (Zeiler & Fergus 2014) of 48x48 faces,
and their colour overlay on the face.

A grey square of `PATCH` pixels (the face's own mean brightness, so the per-image
standardisation of the backbones sees about the same mean) slides over the face in steps of
`STRIDE`; each position is scored, and every pixel gets the mean drop, over the positions that
cover it, of the explained class's evidence: its score minus the mean score of all classes.
Centred scores do not saturate as probabilities do near 1, a drop common to every class (a
darker face) does not count, and they follow from whatever the model outputs: for logits or
SVM margins (divided by a positive calibration temperature, which keeps their order) they are
the scores; for probabilities, take their logarithm (`log_probabilities`), whose centred value
equals the centred scores over the temperature.

Why occlusion rather than Grad-CAM: it needs forward passes only, so the same code runs on
every Keras backend (no tf.GradientTape / jax.grad), on every backbone without choosing a
conv layer (the ResNets' residual adds, an ImageNet base's nested model), and on anything that
maps faces to scores: an exported ONNX or LiteRT file, or the registry's ensemble of
backbones, which `ferflow predict --explain` explains as it is served. The price is
(1 + (48 - 8) / 4)^2 = 121 forward passes per face, batched. Measured on the 2-core CPU at
the embedded run's widths (TensorFlow, other jobs sharing the cores): 2304 passes took 0.2 s
(shallow_cnn) to 2.3 s (resnet50); the 16 heatmaps of a model already traced by the
evaluation 0.8 s (vgg19), 1.7 s (resnet18), 3.4 s (resnet50). Grad-CAM's single backward
pass would be cheaper, but its map is as coarse as the chosen layer (3x3 for the VGGs' last
block on 48x48 faces), and a plain input gradient is speckled; occlusion maps what hiding
each region does to the decision, at the square's resolution.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PIL import Image

from ferflow import IMAGE_SIZE

PATCH = 8
"""Side of the grey square, in pixels of the 48x48 face (about an eye, or a mouth corner)."""
STRIDE = 4
"""Step between squares: each pixel is covered by up to (8 / 4)^2 = 4 positions."""
OVERLAY_ALPHA = 0.6
"""Opacity of the heatmap's colour where it is 1; 0 heat leaves the face as it is."""

Scores = Callable[[np.ndarray], np.ndarray]
"""(M, 48, 48) grey faces 0..255 (float32) → (M, classes) scores, logits or log-probabilities."""


def log_probabilities(predictor: Callable[[np.ndarray], np.ndarray]) -> Scores:
    """Scores from a function that returns probabilities (an ensemble, an exported file)."""
    def scores(faces: np.ndarray) -> np.ndarray:
        return np.log(np.maximum(np.asarray(predictor(faces), dtype=np.float64), 1e-12))

    return scores


def patch_starts(size: int = IMAGE_SIZE, patch: int = PATCH, stride: int = STRIDE) -> list[int]:
    """Top (or left) edges of the squares along one side; the last one ends at the edge."""
    if not 0 < patch <= size or stride < 1:
        raise ValueError(f"patch must be in 1..{size} and stride at least 1; got {patch}, "
                         f"{stride}")
    return sorted(set(range(0, size - patch + 1, stride)) | {size - patch})


def _evidence(scores: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Score of `classes` (one per row) minus the mean score of all classes."""
    scores = np.asarray(scores, dtype=np.float64)
    rows = np.arange(len(scores))
    return scores[rows, classes] - scores.mean(axis=1)


def occlusion_saliency(
    scores: Scores,
    faces: np.ndarray,
    classes: np.ndarray | None = None,
    *,
    patch: int = PATCH,
    stride: int = STRIDE,
    chunk: int = 16,
) -> np.ndarray:
    """Heatmaps (N, 48, 48) float32 in [0, 1] of grey faces (N, 48, 48) 0..255: how much
    hiding each region lowers the evidence for `classes` (one per face; default: the class
    each face is predicted as). Each map is scaled so its largest value is 1; a face that no
    square makes less like its class (a blank image) gets all zeros. `chunk` faces are scored
    at once (121 occluded copies each at the defaults)."""
    faces = np.asarray(faces, dtype=np.float32)
    if faces.ndim == 4 and faces.shape[-1] == 1:
        faces = faces[..., 0]
    if faces.ndim != 3 or faces.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE):
        raise ValueError(f"expected faces of shape (N, {IMAGE_SIZE}, {IMAGE_SIZE}), "
                         f"got {np.shape(faces)}")
    starts = patch_starts(IMAGE_SIZE, patch, stride)
    corners = [(top, left) for top in starts for left in starts]
    heat = np.zeros(faces.shape, dtype=np.float64)
    cover = np.zeros(faces.shape[1:], dtype=np.float64)
    for top, left in corners:
        cover[top : top + patch, left : left + patch] += 1
    for begin in range(0, len(faces), chunk):
        group = faces[begin : begin + chunk]
        plain = np.asarray(scores(group))
        wanted = (plain.argmax(axis=1) if classes is None
                  else np.asarray(classes[begin : begin + chunk], dtype=np.int64))
        base = _evidence(plain, wanted)
        hidden = np.repeat(group[:, None], len(corners), axis=1)  # (n, positions, 48, 48)
        fill = group.mean(axis=(1, 2))
        for k, (top, left) in enumerate(corners):
            hidden[:, k, top : top + patch, left : left + patch] = fill[:, None, None]
        occluded = np.asarray(scores(hidden.reshape(-1, IMAGE_SIZE, IMAGE_SIZE)))
        drops = base[:, None] - _evidence(occluded, np.repeat(wanted, len(corners))).reshape(
            len(group), len(corners))
        for k, (top, left) in enumerate(corners):
            heat[begin : begin + len(group), top : top + patch, left : left + patch] += (
                drops[:, k, None, None])
    heat = np.maximum(heat / cover, 0.0)
    peak = heat.max(axis=(1, 2), keepdims=True)
    return np.divide(heat, peak, out=np.zeros_like(heat), where=peak > 0).astype(np.float32)


def heat_colours(heat: np.ndarray) -> np.ndarray:
    """[0, 1] heat (H, W) → (H, W, 3) float RGB in 0..1, dark blue through yellow (viridis
    reads in grey print and for red-green colour blindness)."""
    from matplotlib import colormaps

    return colormaps["viridis"](np.clip(heat, 0.0, 1.0))[..., :3]


def overlay(grey: np.ndarray, heat: np.ndarray, alpha: float = OVERLAY_ALPHA) -> np.ndarray:
    """A grey image (H, W) 0..255 with `heat` (any size, [0, 1]) resized onto it and blended
    in proportion to its value: (H, W, 3) uint8 RGB."""
    grey = np.asarray(grey, dtype=np.float64)
    height, width = grey.shape
    heat = np.asarray(heat, dtype=np.float32)
    if heat.shape != (height, width):
        resized = Image.fromarray(heat, mode="F").resize((width, height),
                                                         Image.Resampling.BILINEAR)
        heat = np.asarray(resized, dtype=np.float32)
    heat = np.clip(heat, 0.0, 1.0)[..., None]
    weight = alpha * heat
    blended = (1 - weight) * grey[..., None] + weight * 255 * heat_colours(heat[..., 0])
    return np.clip(np.rint(blended), 0, 255).astype(np.uint8)
