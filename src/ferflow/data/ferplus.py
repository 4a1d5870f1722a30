"""FER+ labels: Microsoft's `fer2013new.csv`, ten annotators' votes for each FER2013 row.

The file follows the original Kaggle `fer2013.csv` row by row, in the same order, under the
header `Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF`
(the last ten are vote counts). `majority_labels` turns the votes into FER2013 labels:

- an empty image name drops the row as `not_face` (FER+ leaves it empty for non-faces);
- no vote at all drops it as `no_votes`; a top count shared by two or more columns as `tie`;
- a win of `contempt`, `unknown` or `NF` drops it as `contempt`, `unknown`, `not_face`;
- otherwise the winning emotion replaces FER2013's label.

The preprocess stage applies the labels; the validate stage reads the file again, checks that
it lines up with the raw CSV and reports what changed.
"""

from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ferflow import EMOTIONS, USAGE_TO_SPLIT
from ferflow.errors import FerflowError

VOTE_COLUMNS: tuple[str, ...] = ("neutral", "happiness", "surprise", "sadness", "anger",
                                 "disgust", "fear", "contempt", "unknown", "NF")
HEADER: tuple[str, ...] = ("Usage", "Image name", *VOTE_COLUMNS)
FULL_ROWS = 35_887
"""Data rows of the original Kaggle fer2013.csv, and so of fer2013new.csv."""

DROP_REASONS: tuple[str, ...] = ("not_face", "unknown", "contempt", "tie", "no_votes")

_EMOTION_OF_COLUMN = {"neutral": "neutral", "happiness": "happy", "surprise": "surprise",
                      "sadness": "sad", "anger": "angry", "disgust": "disgust", "fear": "fear"}
_DROP_OF_COLUMN = {"contempt": "contempt", "unknown": "unknown", "NF": "not_face"}
# Vote column index → FER2013 label (-1 for the columns that drop the row).
_LABEL_OF_COLUMN = np.array([EMOTIONS.index(_EMOTION_OF_COLUMN[c]) if c in _EMOTION_OF_COLUMN
                             else -1 for c in VOTE_COLUMNS], dtype=np.int16)


@dataclass(frozen=True)
class FerPlusVotes:
    """A fer2013new.csv in memory: usages (N,) str, image names (N,) str, votes (N, 10) int."""

    path: Path
    sha256: str
    usages: np.ndarray
    image_names: np.ndarray
    votes: np.ndarray

    def __len__(self) -> int:
        return len(self.usages)


@dataclass(frozen=True)
class FerPlusLabels:
    """Per row: the majority's FER2013 label (-1 when dropped) and why it was dropped ("")."""

    labels: np.ndarray
    reasons: np.ndarray

    @property
    def kept(self) -> np.ndarray:
        return self.labels >= 0

    def dropped(self) -> dict[str, int]:
        """Dropped rows per reason, every reason listed (zeros included)."""
        return {reason: int(np.sum(self.reasons == reason)) for reason in DROP_REASONS}

    def changed(self, fer2013_labels: np.ndarray) -> int:
        """Kept rows whose FER+ label differs from the FER2013 one."""
        return int(np.sum(self.kept & (self.labels != np.asarray(fer2013_labels))))


def read_ferplus_csv(path: str | os.PathLike[str]) -> FerPlusVotes:
    """Read and check a fer2013new.csv; FerflowError naming the first bad row and field."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise FerflowError(f"{path}: file not found (data.ferplus_path). Point it at "
                           "Microsoft's FER+ fer2013new.csv, or set data.labels: fer2013.")
    data = path.read_bytes()
    try:
        frame = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False,
                            skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise FerflowError(f"{path}: not a readable CSV ({exc}); data.ferplus_path must point "
                           "at Microsoft's FER+ fer2013new.csv.") from None
    header = tuple(name.strip() for name in frame.columns)
    if header != HEADER:
        raise FerflowError(f"{path}: header is {','.join(header)[:120]!r}, expected the FER+ "
                           f"header {','.join(HEADER)!r}; data.ferplus_path must point at "
                           "Microsoft's FER+ fer2013new.csv.")
    frame.columns = list(HEADER)
    usages = frame["Usage"].str.strip().to_numpy(dtype=object)
    bad_usage = np.flatnonzero(~np.isin(usages, list(USAGE_TO_SPLIT)))
    text = frame[list(VOTE_COLUMNS)].apply(lambda c: c.str.strip())
    bad_votes = ~text.apply(lambda c: c.str.fullmatch(r"[0-9]+")).to_numpy(dtype=bool)
    faults = []
    if len(bad_usage):
        row = int(bad_usage[0])
        faults.append((row, f"Usage is {usages[row]!r}, expected one of "
                            f"{', '.join(USAGE_TO_SPLIT)}"))
    if bad_votes.any():
        row, col = (int(i) for i in np.argwhere(bad_votes)[0])
        faults.append((row, f"{VOTE_COLUMNS[col]} is {text.iat[row, col]!r}, expected a vote "
                            "count (an integer >= 0)"))
    if faults:
        row, what = min(faults)
        raise FerflowError(f"{path}: data row {row + 1} (line {row + 2}): {what}; "
                           f"{len(bad_usage) + int(bad_votes.any(axis=1).sum())} row(s) are "
                           "malformed. Fix the file or fetch fer2013new.csv again.")
    return FerPlusVotes(path=path, sha256=hashlib.sha256(data).hexdigest(), usages=usages,
                        image_names=frame["Image name"].str.strip().to_numpy(dtype=object),
                        votes=text.to_numpy(dtype=np.int64).reshape(len(frame), len(VOTE_COLUMNS)))


def majority_labels(votes: FerPlusVotes) -> FerPlusLabels:
    """FER2013 labels from the votes, by the rules in this module's docstring."""
    counts = votes.votes
    n = len(counts)
    if not n:
        return FerPlusLabels(np.zeros(0, dtype=np.int16), np.zeros(0, dtype=object))
    top = counts.max(axis=1)
    winner = counts.argmax(axis=1)
    tied = (counts == top[:, None]).sum(axis=1) > 1
    # The first rule that applies wins, in this order.
    reasons = np.select(
        [votes.image_names == "", top == 0, tied,
         *(winner == VOTE_COLUMNS.index(column) for column in _DROP_OF_COLUMN)],
        ["not_face", "no_votes", "tie", *_DROP_OF_COLUMN.values()], default="")
    reasons = reasons.astype(object)
    labels = np.where(reasons == "", _LABEL_OF_COLUMN[winner], -1).astype(np.int16)
    return FerPlusLabels(labels=labels, reasons=reasons)


def alignment_problem(votes: FerPlusVotes, fer2013_usages: np.ndarray,
                      fer2013_csv: str | os.PathLike[str]) -> str | None:
    """Why `votes` does not line up with the raw CSV's rows (count, then Usage); None if it does.

    The message is one paragraph naming both files and the fix."""
    fer2013_usages = np.asarray(fer2013_usages, dtype=object)
    count = _row_count_problem(votes, len(fer2013_usages), fer2013_csv)
    if count:
        return count
    differ = np.flatnonzero(votes.usages != fer2013_usages)
    if len(differ):
        row = int(differ[0])
        return (f"data row {row + 1} (line {row + 2}) has Usage {votes.usages[row]!r} in "
                f"{votes.path} but {fer2013_usages[row]!r} in {fer2013_csv} ({len(differ):,} "
                f"rows differ), so the files are not in the same order. {_FIX}")
    return None


def _row_count_problem(votes: FerPlusVotes, rows: int, fer2013_csv: str | os.PathLike[str]
                       ) -> str | None:
    if len(votes) == rows:
        return None
    return (f"{votes.path} has {len(votes):,} data rows but {fer2013_csv} has {rows:,}, so the "
            f"FER+ votes do not line up with the data. {_FIX}")


def check_row_count(votes: FerPlusVotes, rows: int, fer2013_csv: str | os.PathLike[str]) -> None:
    """Raise FerflowError unless `votes` has `rows` rows, as the raw CSV (checked before parsing
    it)."""
    problem = _row_count_problem(votes, rows, fer2013_csv)
    if problem:
        raise FerflowError(f"{problem} Nothing was written.")


def check_alignment(votes: FerPlusVotes, fer2013_usages: np.ndarray,
                    fer2013_csv: str | os.PathLike[str]) -> None:
    """Raise FerflowError unless `votes` lines up with the raw CSV (see alignment_problem)."""
    problem = alignment_problem(votes, fer2013_usages, fer2013_csv)
    if problem:
        raise FerflowError(f"{problem} Nothing was written.")


_FIX = (f"FER+ votes follow the original Kaggle fer2013.csv row by row: use the "
        f"fer2013new.csv that belongs to the full {FULL_ROWS:,}-row fer2013.csv as the data "
        "(data.source: file or kaggle), or set data.labels: fer2013.")
