"""Faces followed across video frames, their emotions smoothed over time per face.

A detector sees each frame afresh; the tracker links each frame's boxes to the faces of the
frames before, so a face keeps one track id while it moves. A box joins the track whose last box
it overlaps most (IoU), or, for a face that moved too far for much overlap between two
classified frames, the track whose centre is nearest within three quarters of a box side. A
track not matched for `max_missed` classified frames in a row ends; a face seen again later
gets a new id.

Each track's probabilities are an exponential moving average of its faces' raw ones:
`smoothed = alpha * raw + (1 - alpha) * smoothed`, started from the first face's. A single
frame's flicker (a blink, motion blur) then moves the label only when it persists.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ferflow.errors import FerflowError
from ferflow.serving.faces import Box
from ferflow.serving.predict import Face

DEFAULT_ALPHA = 0.3
"""Weight of the newest frame: after 5 classified frames a sudden change is 83% through."""
DEFAULT_MAX_MISSED = 5
"""Classified frames a track may go unmatched (the detector missing a face) before it ends."""
MIN_IOU = 0.3
MAX_CENTRE_SHIFT = 0.75
"""Largest centre distance, in units of the track's box side, that still links two boxes."""


def check_alpha(alpha: float) -> float:
    if not 0 < alpha <= 1:
        raise FerflowError(f"--smooth {alpha}: give the weight of the newest frame, above 0 and "
                           "at most 1 (1 turns smoothing off; default "
                           f"{DEFAULT_ALPHA})")
    return alpha


def iou(a: Box, b: Box) -> float:
    w = max(0, min(a.x + a.w, b.x + b.w) - max(a.x, b.x))
    h = max(0, min(a.y + a.h, b.y + b.h) - max(a.y, b.y))
    union = a.w * a.h + b.w * b.h - w * h
    return w * h / union if union > 0 else 0.0


def centre_shift(track_box: Box, box: Box) -> float:
    """Distance between the boxes' centres in units of the track box's larger side."""
    dx = (box.x + box.w / 2) - (track_box.x + track_box.w / 2)
    dy = (box.y + box.h / 2) - (track_box.y + track_box.h / 2)
    return float(np.hypot(dx, dy)) / max(1, track_box.w, track_box.h)


@dataclass
class Track:
    id: int
    box: Box
    smoothed: np.ndarray
    missed: int = 0


@dataclass(frozen=True)
class TrackedFace:
    """One face of one classified frame, linked to its track."""

    track_id: int
    face: Face
    smoothed: np.ndarray
    """The track's probabilities after this face (sums to 1)."""

    @property
    def label(self) -> str:
        from ferflow import EMOTIONS

        return EMOTIONS[int(np.argmax(self.smoothed))]


class FaceTracker:
    """Feed it each classified frame's faces in order; it returns them with track ids."""

    def __init__(self, alpha: float = DEFAULT_ALPHA, max_missed: int = DEFAULT_MAX_MISSED):
        self.alpha, self.max_missed = check_alpha(alpha), max_missed
        self.tracks: list[Track] = []
        self._next_id = 1

    def _pairs(self, faces: Sequence[Face]) -> list[tuple[int, int]]:
        """(track index, face index) links, the best first, each track and face used once."""
        candidates = []
        for t, track in enumerate(self.tracks):
            for f, face in enumerate(faces):
                overlap, shift = iou(track.box, face.box), centre_shift(track.box, face.box)
                if overlap >= MIN_IOU or shift <= MAX_CENTRE_SHIFT:
                    candidates.append((-overlap, shift, t, f))
        used_tracks: set[int] = set()
        used_faces: set[int] = set()
        pairs = []
        for *_, t, f in sorted(candidates):
            if t not in used_tracks and f not in used_faces:
                used_tracks.add(t)
                used_faces.add(f)
                pairs.append((t, f))
        return pairs

    def update(self, faces: Sequence[Face]) -> list[TrackedFace]:
        """Link one classified frame's faces to the tracks, in the order of `faces`."""
        linked: dict[int, Track] = {}
        for t, f in self._pairs(faces):
            track, face = self.tracks[t], faces[f]
            track.box, track.missed = face.box, 0
            track.smoothed = self.alpha * face.probabilities + (1 - self.alpha) * track.smoothed
            linked[f] = track
        matched = {track.id for track in linked.values()}
        for track in self.tracks:
            if track.id not in matched:
                track.missed += 1
        self.tracks = [t for t in self.tracks if t.missed <= self.max_missed]
        for f, face in enumerate(faces):
            if f not in linked:
                track = Track(self._next_id, face.box, face.probabilities.astype(np.float64))
                self._next_id += 1
                self.tracks.append(track)
                linked[f] = track
        return [TrackedFace(linked[f].id, face, linked[f].smoothed.copy())
                for f, face in enumerate(faces)]
