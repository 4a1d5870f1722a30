"""Images to model-ready 48x48 grey faces: decoding files and base64 strings, and turning the
shapes a pyfunc caller may send into one (N, 48, 48) array."""

from __future__ import annotations

import base64
import binascii
import io
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError

from ferflow import IMAGE_SIZE, PIXELS_PER_IMAGE
from ferflow.errors import FerflowError

IMAGE_COLUMN = "image"
"""Preferred DataFrame column for images when a request has several columns."""


def decode_image(data: bytes, source: str = "image") -> np.ndarray:
    """PNG/JPEG/any PIL-readable bytes → grey uint8 array (H, W)."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            return np.asarray(image.convert("L"))
    except UnidentifiedImageError:
        reason = "unknown format"
    except (OSError, ValueError) as exc:  # truncated or corrupt data
        reason = str(exc)
    raise FerflowError(f"{source}: not a readable image ({reason}); use a PNG or JPEG image")


def read_image(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an image file as grey uint8 (H, W); FerflowError names the file if it cannot."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise FerflowError(f"{path}: cannot read the file ({exc.strerror or exc})") from None
    return decode_image(data, str(path))


def resize_face(grey: np.ndarray) -> np.ndarray:
    """Any grey image → (48, 48) uint8; PIL's bilinear filter widens with the scale, so large
    images are averaged down rather than sampled (no aliasing)."""
    grey = np.asarray(grey)
    if grey.shape == (IMAGE_SIZE, IMAGE_SIZE):
        return grey.astype(np.uint8, copy=False)
    image = Image.fromarray(np.clip(grey, 0, 255).astype(np.uint8), mode="L")
    return np.asarray(image.resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.BILINEAR))


def decode_base64_image(text: str | bytes, source: str = "image") -> np.ndarray:
    """Base64 text (optionally a `data:image/...;base64,` URL) → grey (H, W) uint8."""
    if isinstance(text, bytes):
        text = text.decode("ascii", errors="replace")
    if text.startswith("data:") and "," in text:
        text = text.split(",", 1)[1]
    try:
        data = base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise FerflowError(f"{source}: not valid base64 text; encode the image file's bytes "
                           "with base64") from None
    return decode_image(data, source)


def _pixels_to_face(values: Any, source: str) -> np.ndarray:
    try:
        pixels = np.asarray(values, dtype=np.float32)
    except (TypeError, ValueError):
        pixels = np.zeros(())
    if pixels.ndim == 0:  # None, a number, an object that is not a pixel list
        raise FerflowError(f"{source}: expected base64 image text or {PIXELS_PER_IMAGE} grey "
                           f"pixel values, got {type(values).__name__}")
    if pixels.size != PIXELS_PER_IMAGE:
        raise FerflowError(f"{source}: expected {PIXELS_PER_IMAGE} pixels (48x48, grey 0..255), "
                           f"got an array of shape {pixels.shape}")
    return pixels.reshape(IMAGE_SIZE, IMAGE_SIZE)


def _cell_to_face(cell: Any, source: str) -> np.ndarray:
    """One request cell: base64 text, raw image bytes, or 48x48 / 2304 pixel values."""
    if isinstance(cell, str):
        return resize_face(decode_base64_image(cell, source)).astype(np.float32)
    if isinstance(cell, bytes | bytearray):
        # Raw bytes that are themselves base64 text decode as such; otherwise image bytes.
        try:
            return resize_face(decode_base64_image(bytes(cell), source)).astype(np.float32)
        except FerflowError:
            return resize_face(decode_image(bytes(cell), source)).astype(np.float32)
    return _pixels_to_face(cell, source)


def _stack(cells: Iterable[Any], source: str) -> np.ndarray:
    faces = [_cell_to_face(cell, f"{source} row {i}") for i, cell in enumerate(cells)]
    if not faces:
        return np.zeros((0, IMAGE_SIZE, IMAGE_SIZE), dtype=np.float32)
    return np.stack(faces)


def faces_from_input(model_input: Any) -> np.ndarray:
    """Normalise what a pyfunc caller sends into float32 faces (N, 48, 48), pixels 0..255.

    Accepted:
    - a DataFrame with one column (or a column named `image`) whose cells are base64 image
      text (any size, colour or grey), image bytes, 48x48 arrays or 2304-pixel lists;
    - a DataFrame of 2304 numeric columns, one face per row;
    - an array (N, 48, 48), (N, 48, 48, 1) or (N, 2304) of pixels, or an array/list of base64
      strings (the `inputs` form of the REST API);
    - a dict with a single key, or an `image` key, holding any of these.
    """
    if isinstance(model_input, dict):
        if IMAGE_COLUMN in model_input:
            model_input = model_input[IMAGE_COLUMN]
        elif len(model_input) == 1:
            model_input = next(iter(model_input.values()))
        else:
            raise FerflowError(f"input has keys {sorted(model_input)}: send one key, or put the "
                               f"images under {IMAGE_COLUMN!r}")
    if isinstance(model_input, pd.Series):
        return _stack(model_input.tolist(), "input")
    if isinstance(model_input, pd.DataFrame):
        frame = model_input
        if frame.shape[1] == PIXELS_PER_IMAGE:
            return _pixels_rows(frame.to_numpy(), "input")
        if IMAGE_COLUMN in frame.columns:
            return _stack(frame[IMAGE_COLUMN].tolist(), f"column {IMAGE_COLUMN!r}")
        if frame.shape[1] == 1:
            return _stack(frame.iloc[:, 0].tolist(), f"column {frame.columns[0]!r}")
        raise FerflowError(f"input has columns {list(frame.columns)[:5]}...: send one column of "
                           f"images (base64 or pixels), a column named {IMAGE_COLUMN!r}, or "
                           f"{PIXELS_PER_IMAGE} pixel columns")
    array = np.asarray(model_input)
    if array.dtype.kind in "OUSV":
        return _stack(array.reshape(-1).tolist(), "input")
    return _pixels_rows(array, "input")


def _pixels_rows(array: np.ndarray, source: str) -> np.ndarray:
    array = np.asarray(array, dtype=np.float32)
    if array.ndim == 4 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim == 2 and array.shape == (IMAGE_SIZE, IMAGE_SIZE):
        array = array[None]  # one face
    if array.ndim == 2 and array.shape[1] == PIXELS_PER_IMAGE:
        array = array.reshape(-1, IMAGE_SIZE, IMAGE_SIZE)
    if array.ndim != 3 or array.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE):
        raise FerflowError(f"{source}: expected faces of shape (N, 48, 48) or (N, 2304) with "
                           f"grey pixels 0..255, got shape {array.shape}")
    return array
