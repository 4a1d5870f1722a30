"""Run a saved classifier on faces: loading, batching, scores → probabilities, and test-time
augmentation (TTA).

TTA modes, each averaging the class probabilities of several views of every face:
- `none`: the face as it is (what the served model does);
- `flip`: the face and its mirror image (2 views);
- `ten_crop`: the four corner crops and the centre crop of side `crop_size` (44 of 48 by
  default), each resized back to 48x48 with bilinear interpolation, plus the mirror image of
  each (10 views). Resizing rather than padding keeps the whole input filled with face, as in
  training: a crop shows the face about 9% larger, a change the zoom augmentation covers.
Probabilities (softmax of the scores) are averaged, not raw scores, so views and ensemble
members whose score scales differ still carry equal weight.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import keras
import numpy as np
from keras import ops

from ferflow import IMAGE_SIZE
from ferflow.errors import FerflowError
from ferflow.progress import Progress

TTA_MODES: tuple[str, ...] = ("none", "flip", "ten_crop")
VIEWS_PER_MODE: dict[str, int] = {"none": 1, "flip": 2, "ten_crop": 10}
DEFAULT_CROP = 44


def load_classifier(path: str | os.PathLike[str]) -> keras.Model:
    """Load a `.keras` classifier saved by the train stage (inference only, not compiled)."""
    import ferflow.models  # noqa: F401  (registers ferflow's custom layers with Keras)

    path = Path(path)
    if not path.is_file():
        raise FerflowError(f"{path}: model file not found; run the train stage first "
                           "(dvc repro) or pass the path of a .keras file")
    try:
        return keras.saving.load_model(path, compile=False)
    except (ValueError, OSError) as exc:
        raise FerflowError(f"{path}: not a readable Keras model ({exc}); pass a .keras file "
                           "written by the train stage") from None


def as_model_input(images: np.ndarray) -> np.ndarray:
    """(N, 48, 48) or (N, 48, 48, 1) grey pixels 0..255 → float32 (N, 48, 48, 1)."""
    x = np.asarray(images, dtype=np.float32)
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE, 1):
        raise ValueError(f"expected faces of shape (N, {IMAGE_SIZE}, {IMAGE_SIZE}[, 1]), "
                         f"got {np.shape(images)}")
    return x


def _batches(x: np.ndarray, batch_size: int) -> Iterator[np.ndarray]:
    for start in range(0, len(x), batch_size):
        yield x[start : start + batch_size]


def predict_scores(
    model: keras.Model,
    images: np.ndarray,
    batch_size: int = 256,
    progress: Progress | None = None,
) -> np.ndarray:
    """The model's output (N, num_classes) for raw grey faces: its scores, divided by its
    calibration temperature where it has one."""
    x = as_model_input(images)
    num_classes = int(model.output_shape[-1])
    out = np.empty((len(x), num_classes), dtype=np.float32)
    done = 0
    for batch in _batches(x, batch_size):
        # predict_on_batch runs the compiled predict step without predict()'s per-call set-up.
        out[done : done + len(batch)] = np.asarray(model.predict_on_batch(batch))
        done += len(batch)
        if progress is not None:
            progress.update(len(batch))
    return out


def predict_probabilities(
    model: keras.Model,
    images: np.ndarray,
    batch_size: int = 256,
    progress: Progress | None = None,
) -> np.ndarray:
    """Class probabilities (N, num_classes) of `model` for raw grey faces (calibrated when the
    model carries a temperature: `ferflow.models.calibration`)."""
    from ferflow.models import scores_to_probabilities

    return scores_to_probabilities(predict_scores(model, images, batch_size, progress))


def flip(x: np.ndarray) -> np.ndarray:
    """Mirror (N, H, W, C) images left to right."""
    return x[:, :, ::-1, :]


def ten_crop_views(x: np.ndarray, crop_size: int = DEFAULT_CROP) -> Iterator[np.ndarray]:
    """The 10 views of `ten_crop`, one (N, 48, 48, 1) array at a time (memory stays ~2 views)."""
    size = x.shape[1]
    if not 0 < crop_size <= size:
        raise FerflowError(f"evaluate.ten_crop_size must be in 1..{size}; got {crop_size}")
    far = size - crop_size
    mid = far // 2
    corners = ((0, 0), (0, far), (far, 0), (far, far), (mid, mid))
    for top, left in corners:
        crop = x[:, top : top + crop_size, left : left + crop_size, :]
        view = ops.convert_to_numpy(
            ops.image.resize(crop, (size, size), interpolation="bilinear", antialias=False)
        ).astype(np.float32)
        yield view
        yield flip(view)


def tta_views(x: np.ndarray, mode: str, crop_size: int = DEFAULT_CROP) -> Iterator[np.ndarray]:
    """The views of `mode` (see module docstring) of model-ready faces x (N, 48, 48, 1)."""
    if mode == "none":
        yield x
    elif mode == "flip":
        yield x
        yield flip(x)
    elif mode == "ten_crop":
        yield from ten_crop_views(x, crop_size)
    else:
        raise FerflowError(f"unknown test-time augmentation {mode!r}: use one of "
                           f"{', '.join(TTA_MODES)}")


def tta_probabilities(
    model: keras.Model,
    images: np.ndarray,
    mode: str,
    *,
    crop_size: int = DEFAULT_CROP,
    batch_size: int = 256,
    progress: Progress | None = None,
) -> np.ndarray:
    """Probabilities averaged over the views of TTA `mode`."""
    x = as_model_input(images)
    total: np.ndarray | None = None
    views = 0
    for view in tta_views(x, mode, crop_size):
        probs = predict_probabilities(model, view, batch_size, progress)
        total = probs if total is None else total + probs
        views += 1
    assert total is not None
    return total / views
