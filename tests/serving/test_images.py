from __future__ import annotations

import base64

import numpy as np
import pandas as pd
import pytest

from ferflow.errors import FerflowError
from ferflow.serving.images import decode_image, faces_from_input, read_image, resize_face


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def test_base64_images_of_any_size_and_colour_become_48x48_grey(encode) -> None:
    rng = np.random.default_rng(0)
    grey48 = rng.integers(0, 256, (48, 48)).astype(np.uint8)
    colour = rng.integers(0, 256, (120, 90, 3)).astype(np.uint8)
    frame = pd.DataFrame({"image": [b64(encode(grey48)), b64(encode(colour, "RGB", "JPEG")),
                                    "data:image/png;base64," + b64(encode(grey48))]})
    faces = faces_from_input(frame)
    assert faces.shape == (3, 48, 48) and faces.dtype == np.float32
    np.testing.assert_array_equal(faces[0], grey48)  # PNG is lossless, 48x48 is kept as is
    np.testing.assert_array_equal(faces[2], grey48)
    expected = resize_face(decode_image(encode(colour, "RGB", "JPEG")))
    np.testing.assert_array_equal(faces[1], expected)


def test_pixel_inputs_in_every_accepted_shape() -> None:
    rng = np.random.default_rng(1)
    faces = rng.integers(0, 256, (2, 48, 48)).astype(np.float32)
    flat = faces.reshape(2, -1)
    for given in (faces, faces[..., None], flat, flat.tolist(),
                  pd.DataFrame(flat), pd.DataFrame({"pixels": list(flat)}),
                  pd.DataFrame({"x": [f.tolist() for f in faces]}), {"image": flat}):
        np.testing.assert_array_equal(faces_from_input(given), faces)
    np.testing.assert_array_equal(faces_from_input(faces[0]), faces[:1])


def test_bytes_cells_and_arrays_of_base64_strings(encode) -> None:
    face = np.full((48, 48), 77, np.uint8)
    frame = pd.DataFrame({"image": [encode(face)]})  # raw PNG bytes
    np.testing.assert_array_equal(faces_from_input(frame)[0], face)
    strings = np.array([b64(encode(face))] * 2)  # REST `inputs` form
    assert faces_from_input(strings).shape == (2, 48, 48)


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (pd.DataFrame({"image": ["not base64!"]}), "not valid base64"),
        (pd.DataFrame({"image": [b64(b"plain text, not an image")]}), "not a readable image"),
        (np.zeros((2, 32, 32)), "expected faces of shape"),
        (pd.DataFrame({"a": [1], "b": [2]}), "send one column"),
        (pd.DataFrame({"image": [[1, 2, 3]]}), "expected 2304 pixels"),
        (pd.DataFrame({"image": [None]}), "expected base64 image text or 2304"),
        ({"a": [1], "b": [2]}, "send one key"),
    ],
)
def test_bad_inputs_say_what_is_wrong(given, message) -> None:
    with pytest.raises(FerflowError, match=message):
        faces_from_input(given)


def test_read_image_errors_name_the_file(tmp_path) -> None:
    with pytest.raises(FerflowError, match="absent.png: cannot read the file"):
        read_image(tmp_path / "absent.png")
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(FerflowError, match="notes.txt: not a readable image"):
        read_image(text)
