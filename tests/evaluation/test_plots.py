from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from PIL import Image

from ferflow.evaluation.plots import (
    most_confident_mistakes,
    write_confusion_csv,
    write_confusion_png,
    write_misclassified_png,
)


def test_confusion_csv_has_one_named_row_per_sample(tmp_path: Path) -> None:
    target = tmp_path / "plots" / "confusion" / "net.csv"
    write_confusion_csv(target, np.array([0, 3, 6]), np.array([1, 3, 6]))
    rows = list(csv.reader(target.open()))
    assert rows == [["actual", "predicted"], ["angry", "disgust"], ["happy", "happy"],
                    ["neutral", "neutral"]]


def test_confusion_png_is_a_real_image(tmp_path: Path) -> None:
    target = tmp_path / "confusion.png"
    rng = np.random.default_rng(0)
    write_confusion_png(target, rng.integers(0, 7, 100), rng.integers(0, 7, 100), "net: test")
    with Image.open(target) as image:
        assert image.format == "PNG"
        assert image.width > 1000 and image.height > 400
    assert not list(tmp_path.glob(".*tmp*"))


def test_mistakes_are_ordered_by_confidence() -> None:
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    y_true = np.array([0, 0, 1, 1])  # rows 1 (p=0.8) and 2 (p=0.6) are wrong
    assert most_confident_mistakes(y_true, probs, 5).tolist() == [1, 2]
    assert most_confident_mistakes(y_true, probs, 1).tolist() == [1]


def test_misclassified_grid(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (20, 48, 48)).astype(np.uint8)
    y_true = np.arange(20) % 7
    probs = rng.dirichlet(np.ones(7), 20)
    drawn = write_misclassified_png(tmp_path / "grid.png", images, y_true, probs, "net", limit=8)
    expected = int(min(8, np.sum(probs.argmax(1) != y_true)))
    assert drawn == expected > 0
    with Image.open(tmp_path / "grid.png") as image:
        assert image.format == "PNG"

    perfect = np.eye(7)[y_true]
    assert write_misclassified_png(tmp_path / "none.png", images, y_true, perfect, "net") == 0
    assert (tmp_path / "none.png").stat().st_size > 0
