"""The synthetic faces: FER2013 format, stratified splits, determinism, and learnability."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ferflow import EMOTIONS
from ferflow.config import SplitShares, SyntheticParams
from ferflow.data.fer_csv import USAGES, read_fer2013_csv
from ferflow.data.synthetic import (
    FER2013_CLASS_SHARES,
    allocate,
    generate_faces,
    preview_grid,
    write_synthetic_csv,
)


def test_table_has_fer2013_format_and_balance() -> None:
    rows = 1400
    table = generate_faces(SyntheticParams(rows=rows), seed=3)

    assert table.images.shape == (rows, 48, 48) and table.images.dtype == np.uint8
    assert table.labels.dtype == np.uint8 and set(table.labels.tolist()) == set(range(7))
    assert set(table.usages.tolist()) == set(USAGES)
    shares = np.bincount(table.labels, minlength=7) / rows
    np.testing.assert_allclose(shares, FER2013_CLASS_SHARES, atol=0.004)
    usage_shares = Counter(table.usages.tolist())
    assert abs(usage_shares["Training"] / rows - 0.8) < 0.01
    assert abs(usage_shares["PublicTest"] / rows - 0.1) < 0.01
    # Rows are shuffled: neither labels nor usages come in blocks.
    assert np.count_nonzero(np.diff(table.labels.astype(int))) > rows / 2
    # Faces, not blanks, and no two alike (the data gate checks both).
    assert table.images.reshape(rows, -1).std(axis=1).min() > 10
    assert len({image.tobytes() for image in table.images}) == rows


@pytest.mark.parametrize("balance", ["fer2013", "uniform"])
@pytest.mark.parametrize("splits", [SplitShares(), SplitShares(train=0.05, val=0.05, test=0.9)])
def test_every_class_in_every_split_at_minimum_size(balance: str, splits: SplitShares) -> None:
    params = SyntheticParams(rows=70, class_balance=balance, splits=splits)
    table = generate_faces(params, seed=0)

    assert len(table) == 70
    pairs = Counter(zip(table.labels.tolist(), table.usages.tolist(), strict=True))
    assert all(pairs[(label, usage)] >= 1 for label in range(7) for usage in USAGES)
    assert all(pairs[(label, "Training")] >= 1 for label in range(7))


def test_uniform_balance_is_uniform() -> None:
    table = generate_faces(SyntheticParams(rows=700, class_balance="uniform"), seed=0)
    assert np.bincount(table.labels).tolist() == [100] * 7


def test_allocate_keeps_total_and_minimum() -> None:
    counts = allocate(70, FER2013_CLASS_SHARES, 4)
    assert counts.sum() == 70 and counts.min() == 4
    assert allocate(10, (0.5, 0.25, 0.25), 1).tolist() == [5, 3, 2]


def test_written_csv_reads_back_exactly(tmp_path: Path) -> None:
    path = tmp_path / "raw" / "fer2013.csv"
    table = write_synthetic_csv(path, SyntheticParams(rows=140), seed=5)
    back = read_fer2013_csv(path)

    np.testing.assert_array_equal(back.images, table.images)
    np.testing.assert_array_equal(back.labels, table.labels)
    assert back.usages.tolist() == table.usages.tolist()
    assert [p.name for p in path.parent.iterdir()] == ["fer2013.csv"]  # no temp file left


def test_same_seed_same_bytes_other_seed_differs() -> None:
    params = SyntheticParams(rows=300)
    first, again = generate_faces(params, seed=11), generate_faces(params, seed=11)
    other = generate_faces(params, seed=12)

    assert first.images.tobytes() == again.images.tobytes()
    assert first.labels.tobytes() == again.labels.tobytes()
    assert first.usages.tolist() == again.usages.tolist()
    assert first.images.tobytes() != other.images.tobytes()
    assert first.labels.tobytes() != other.labels.tobytes()


def test_noise_param_changes_pixel_noise() -> None:
    quiet = generate_faces(SyntheticParams(rows=140, noise=0.0), seed=1).images.astype(float)
    noisy = generate_faces(SyntheticParams(rows=140, noise=0.2), seed=1).images.astype(float)
    # Neighbouring-pixel differences measure the high-frequency noise.
    assert np.abs(np.diff(noisy, axis=2)).mean() > 3 * np.abs(np.diff(quiet, axis=2)).mean()


def test_preview_grid_is_a_labelled_png(tmp_path: Path) -> None:
    table = generate_faces(SyntheticParams(rows=140), seed=0)
    path = tmp_path / "preview.png"
    preview_grid(table, path, per_class=4)

    with Image.open(path) as picture:
        assert picture.format == "PNG" and picture.mode == "L"
        width, height = picture.size
        pixels = np.asarray(picture)
    assert height == 2 * (len(EMOTIONS) * 50 + 2) and width == 2 * (40 + 4 * 50 + 2)
    # The label column holds dark text on white.
    assert pixels[:, :80].min() < 100


@pytest.mark.slow
def test_a_tiny_cnn_learns_the_expressions() -> None:
    """Well above chance (1/7) after a few epochs, so the classes are learnable."""
    import keras

    table = generate_faces(SyntheticParams(rows=1500, class_balance="uniform"), seed=0)
    x = table.images[..., None].astype("float32")
    # Per-face standardisation: lighting and background vary by design.
    x = (x - x.mean(axis=(1, 2, 3), keepdims=True)) / (x.std(axis=(1, 2, 3), keepdims=True) + 1)
    train, val = table.usages == "Training", table.usages == "PublicTest"

    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((48, 48, 1)),
        keras.layers.Conv2D(16, 3), keras.layers.BatchNormalization(), keras.layers.ReLU(),
        keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(32, 3), keras.layers.BatchNormalization(), keras.layers.ReLU(),
        keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(32, 3, activation="relu"), keras.layers.MaxPooling2D(),
        keras.layers.Flatten(), keras.layers.Dropout(0.3),
        keras.layers.Dense(7, activation="softmax"),
    ])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x[train], table.labels[train], epochs=8, batch_size=16, verbose=0)
    _, accuracy = model.evaluate(x[val], table.labels[val], verbose=0)

    assert accuracy >= 0.6, f"validation accuracy {accuracy:.3f} (chance is 0.143)"
