"""Face detection with MTCNN (Zhang et al., 2016: three cascaded CNNs, P-, R- and O-Net).

The `mtcnn` package (1.x, MIT) ships the three networks' weights inside its wheel
(`mtcnn/assets/weights/{pnet,rnet,onet}.lz4`), so detection downloads nothing. It runs on
TensorFlow, which the default install has; where `mtcnn` or TensorFlow is missing (a JAX-only
host), `DetectorUnavailable` says so and `ferflow.serving.faces` falls back to the Haar cascade.

MTCNN was trained on colour photos; it is given the grey image in all three channels, since
serving works on grey pixels throughout.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np

from ferflow.errors import FerflowError


class DetectorUnavailable(FerflowError):
    """The MTCNN detector cannot run here (its package or TensorFlow is missing)."""


@cache
def _network() -> Any:
    try:
        from mtcnn import MTCNN
    except ImportError as exc:  # mtcnn itself, or the TensorFlow it imports
        raise DetectorUnavailable(
            f"the mtcnn face detector is not installed here ({exc}); pip install mtcnn "
            "(see requirements.lock; it needs TensorFlow)") from None
    return MTCNN(stages="face_and_landmarks_detection", device="CPU:0")


def mtcnn_boxes(grey: np.ndarray, min_face: int) -> list[tuple[int, int, int, int]]:
    """(x, y, w, h) boxes of the faces of at least `min_face` pixels in a grey uint8 image, with
    the package's own score thresholds (0.6, 0.7, 0.8 for P-, R-, O-Net)."""
    network = _network()
    rgb = np.repeat(np.ascontiguousarray(grey, dtype=np.uint8)[..., None], 3, axis=2)
    # The package's own min_face_size is left at its default: in mtcnn 1.0.0 raising it also
    # drops the pyramid's coarsest levels, so large faces went unseen. Small boxes go here.
    found = network.detect_faces(rgb, box_format="xywh")
    return [tuple(int(v) for v in face["box"]) for face in found
            if min(face["box"][2:]) >= min_face]
