"""The facts the gate derives before Great Expectations judges them: CSV rows, PNGs, quality."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from fer_tables import random_table
from PIL import Image
from validation_data import edit_lines

from ferflow.data.fer_csv import make_table, write_fer2013_csv
from ferflow.validation.csv_rows import read_csv_facts
from ferflow.validation.images import png_size_and_mode
from ferflow.validation.quality import image_quality, pixel_std


def test_clean_csv_parses_to_the_written_pixels(tmp_path: Path) -> None:
    table = random_table(30, seed=3)
    path = tmp_path / "fer.csv"
    write_fer2013_csv(path, table)
    facts = read_csv_facts(path)
    assert facts.header == ("emotion", "pixels", "Usage")
    assert np.array_equal(facts.images, table.images)
    assert facts.pixels_ok.all() and facts.usable.all()
    assert np.array_equal(facts.labels, table.labels)
    frame = facts.frame
    assert frame["line"].tolist() == list(range(2, 32))
    assert (frame["pixel_count"] == 2304).all() and (frame["non_integer_pixels"] == 0).all()
    assert np.array_equal(frame["pixel_max"], table.images.reshape(30, -1).max(axis=1))
    assert np.array_equal(frame["pixel_min"], table.images.reshape(30, -1).min(axis=1))


def test_every_kind_of_bad_row_gets_its_own_facts(tmp_path: Path) -> None:
    table = make_table(np.full((8, 48, 48), 7), [0] * 8, ["Training"] * 8)
    path = tmp_path / "fer.csv"
    write_fer2013_csv(path, table)
    pixels = ["7"] * 2304
    edit_lines(path, {
        2: "9," + " ".join(pixels) + ",Training",                       # emotion out of range
        3: "0," + " ".join(["300", *pixels[1:]]) + ",Training",         # pixel > 255
        4: "0," + " ".join(["x", *pixels[1:]]) + ",Training",           # not an integer
        5: "0," + " ".join(pixels[1:]) + ",Training",                   # 2303 pixels
        6: "0," + " ".join(["-1", *pixels[1:]]) + ",Training",          # negative
        7: "0," + " ".join(pixels) + ",Training,extra",                 # four fields
        8: '0,"' + "  ".join(["0255", *pixels[1:]]) + '",PublicTest',   # odd but valid
    })
    facts = read_csv_facts(path)
    frame = facts.frame
    assert frame["emotion"].tolist()[:2] == ["9", "0"]
    assert facts.labels.tolist() == [-1, 0, 0, 0, 0, 0, 0, 0]
    assert frame["pixel_max"].tolist()[:3] == [7, 300, 7]
    assert frame["non_integer_pixels"].tolist() == [0, 0, 1, 0, 0, 0, 0, 0]
    assert frame["pixel_count"].tolist() == [2304, 2304, 2304, 2303, 2304, 2304, 2304, 2304]
    assert frame["pixel_min"][4] == -1
    assert frame["field_count"].tolist() == [3, 3, 3, 3, 3, 4, 3, 3]
    assert facts.pixels_ok.tolist() == [True, False, False, False, False, True, True, True]
    assert facts.splits[6] == "val" and facts.images[6, 0, 0] == 255


def test_png_header_reader_agrees_with_pil(tmp_path: Path) -> None:
    cases = {"grey.png": ("L", (48, 48)), "rgb.png": ("RGB", (48, 48)),
             "wide.png": ("L", (50, 48)), "rgba.png": ("RGBA", (10, 12))}
    for name, (mode, size) in cases.items():
        Image.new(mode, size).save(tmp_path / name)
        assert png_size_and_mode(str(tmp_path / name)) == (*size, mode)
    (tmp_path / "fake.png").write_bytes(b"GIF89a not a png at all, but long enough")
    assert png_size_and_mode(str(tmp_path / "fake.png")) == (0, 0, "not a PNG")
    assert png_size_and_mode(str(tmp_path / "missing.png")) is None


def test_pixel_std_is_exact() -> None:
    images = np.random.default_rng(0).integers(0, 256, (20, 48, 48), dtype=np.uint8)
    images[3] = 200
    assert np.allclose(pixel_std(images), images.reshape(20, -1).std(axis=1))
    assert pixel_std(images)[3] == 0


def test_quality_counts_duplicates_and_blanks_per_split() -> None:
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (9, 48, 48), dtype=np.uint8)
    splits = np.array(["train"] * 5 + ["val"] * 2 + ["test"] * 2, dtype=object)
    images[5] = images[0]          # val repeats a train image (leak)
    images[2] = images[1]          # train repeats itself
    images[4] = images[1]          # ... twice
    images[8] = 128                # blank test image
    images[6] = 128                # the same blank image in val: a blank, not a leak
    images[7] = 128
    images[7, 0, :3] = 129         # near-constant: std ~0.04
    labels = np.array([0, 1, 1, 2, 1, 3, 4, 5, 6])
    quality = image_quality(images, splits, labels, np.arange(2, 11), blank_std=2.0)
    train, val, test = (quality.per_split[s] for s in ("train", "val", "test"))
    assert (train.rows, val.rows, test.rows) == (5, 2, 2)
    assert (train.cross_split_duplicates, val.cross_split_duplicates,
            test.cross_split_duplicates) == (1, 1, 0)
    assert (train.within_split_duplicates, val.within_split_duplicates,
            test.within_split_duplicates) == (2, 0, 0)
    assert (train.blank_images, val.blank_images, test.blank_images) == (0, 1, 2)
    assert quality.duplicate_groups == 2 and quality.conflicting_label_groups == 1
    assert quality.cross_split_examples == [[(2, "train", 0), (7, "val", 3)]]
    assert quality.within_split_examples == [[(3, "train", 1), (4, "train", 1), (6, "train", 1)]]
    assert [line for line, _, _ in quality.blank_examples] == [8, 9, 10]
