"""A minimal, fast PNG encoder for 8-bit grey images.

PIL's `Image.save` costs ~3x more per 48x48 face than encoding the few bytes of a PNG directly; at
35k faces per data set that difference is most of the preprocess stage. Files are standard PNGs
(greyscale, 8 bit, filter 0) that PIL, browsers and OpenCV read back exactly.
"""

from __future__ import annotations

import os
import struct
import zlib

import numpy as np

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_IEND = struct.pack(">I", 0) + b"IEND" + struct.pack(">I", zlib.crc32(b"IEND"))


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return (struct.pack(">I", len(payload)) + kind + payload
            + struct.pack(">I", zlib.crc32(kind + payload)))


def encode_grey_png(image: np.ndarray, level: int = 6) -> bytes:
    """PNG bytes of a 2-D uint8 array."""
    height, width = image.shape
    # Each scanline starts with its filter type byte (0 = none).
    scanlines = np.zeros((height, width + 1), dtype=np.uint8)
    scanlines[:, 1:] = image
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (_SIGNATURE + _chunk(b"IHDR", header)
            + _chunk(b"IDAT", zlib.compress(scanlines.tobytes(), level)) + _IEND)


def write_grey_png(path: str, image: np.ndarray) -> None:
    """Write `image` as a PNG file (plain os calls: this runs tens of thousands of times)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, encode_grey_png(image))
    finally:
        os.close(fd)
