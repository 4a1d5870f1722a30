"""Image-level data quality: exact duplicates (within and across splits) and blank images.

An image that occurs in two splits leaks the answer from train into val/test; repeats inside a
split over-weight those faces; a blank or near-constant image (pixel std below a threshold) has
no face to learn. Exact duplicates are found by hashing each image's bytes (blake2b, 128 bit);
blank images are counted as blanks only, not as duplicates of each other.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

from ferflow import SPLITS


@dataclass(frozen=True)
class SplitQuality:
    rows: int
    cross_split_duplicates: int  # rows whose image also occurs in another split
    within_split_duplicates: int  # rows repeating an earlier image of the same split
    blank_images: int  # rows whose pixel std is below the threshold

    def share(self, count: int) -> float:
        return count / self.rows if self.rows else 0.0


@dataclass(frozen=True)
class Quality:
    """Counts per split and a few example groups, each row given as (CSV line, split, label)."""

    per_split: dict[str, SplitQuality]
    duplicate_groups: int  # distinct images that occur more than once
    conflicting_label_groups: int  # ...of which the copies carry different labels
    cross_split_examples: list[list[tuple[int, str, int]]] = field(default_factory=list)
    within_split_examples: list[list[tuple[int, str, int]]] = field(default_factory=list)
    blank_examples: list[tuple[int, str, float]] = field(default_factory=list)


def image_hashes(images: np.ndarray) -> np.ndarray:
    """A 16-byte digest per image (about 0.1 s for FER2013's 36k faces)."""
    return np.array([hashlib.blake2b(image.tobytes(), digest_size=16).digest()
                     for image in images], dtype="S16")


def pixel_std(images: np.ndarray) -> np.ndarray:
    """Each image's pixel standard deviation, from exact integer sums (5x faster than .std)."""
    flat = images.reshape(len(images), int(np.prod(images.shape[1:])))
    n = flat.shape[1]
    total = flat.sum(axis=1, dtype=np.int64)
    squares = (flat.astype(np.uint16) ** 2).sum(axis=1, dtype=np.int64)  # 255**2 fits uint16
    return np.sqrt((squares * n - total * total) / (n * n))


def image_quality(images: np.ndarray, splits: np.ndarray, labels: np.ndarray, lines: np.ndarray,
                  blank_std: float, examples: int = 5) -> Quality:
    """Duplicates and blanks among `images` (N, 48, 48), with their split, label and CSV line."""
    split_index = np.array([SPLITS.index(s) for s in splits], dtype=np.int64)
    std = pixel_std(images)
    blank = std < blank_std
    group = np.unique(image_hashes(images), return_inverse=True)[1].reshape(-1)
    # Blank images are alike by nature and are counted as blanks: each gets a group of its own,
    # so that they never count as duplicates (FER2013's 12 black faces would look like a leak).
    group[blank] = group.max(initial=-1) + 1 + np.arange(int(blank.sum()))
    copies = np.bincount(group)
    n_groups = len(copies)

    in_split = np.zeros((n_groups, len(SPLITS)), dtype=bool)
    in_split[group, split_index] = True
    cross = in_split.sum(axis=1)[group] > 1
    # The first row of each (group, split) pair is the original; the others are repeats.
    first = np.unique(group * len(SPLITS) + split_index, return_index=True)[1]
    repeat = np.ones(len(group), dtype=bool)
    repeat[first] = False
    labels_per_group = np.unique(group * 256 + labels.astype(np.int64)) // 256
    conflicting = int(np.sum(np.bincount(labels_per_group, minlength=n_groups) > 1))

    per_split = {}
    for i, split in enumerate(SPLITS):
        mine = split_index == i
        per_split[split] = SplitQuality(
            rows=int(mine.sum()),
            cross_split_duplicates=int((cross & mine).sum()),
            within_split_duplicates=int((repeat & mine).sum()),
            blank_images=int((blank & mine).sum()),
        )

    def describe(rows: np.ndarray) -> list[tuple[int, str, int]]:
        return [(int(lines[r]), str(splits[r]), int(labels[r])) for r in rows]

    def groups_where(flag: np.ndarray) -> list[list[tuple[int, str, int]]]:
        chosen = list(dict.fromkeys(group[flag].tolist()))[:examples]
        # A group of copies can be large (FER2013's black images): show its first rows.
        return [describe(np.flatnonzero(group == g)[:10]) for g in chosen]

    return Quality(
        per_split=per_split,
        duplicate_groups=int(np.sum(copies > 1)),
        conflicting_label_groups=conflicting,
        cross_split_examples=groups_where(cross),
        within_split_examples=groups_where(repeat),
        blank_examples=[(int(lines[r]), str(splits[r]), round(float(std[r]), 3))
                        for r in np.flatnonzero(blank)[:examples]],
    )
