"""The download stage's local sources: CSV, CSV.gz, archives, image folders, synthetic, Kaggle.

Inputs are built in tmp_path from random tables (never real FER2013 rows).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import socket
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml
from fer_tables import random_table
from params_data import params_tree, write_params
from PIL import Image

from ferflow import EMOTIONS
from ferflow.config import DataParams
from ferflow.data.fer_csv import HEADER, format_rows, read_fer2013_csv, write_fer2013_csv
from ferflow.data.sources import (
    fetch_raw_csv,
    import_kaggle_download,
    kaggle_credentials_found,
    read_image_folders,
)
from ferflow.errors import FerflowError

REPO = Path(__file__).resolve().parents[2]


def file_params(path: Path | str, **file: object) -> DataParams:
    return DataParams.model_validate({"source": "file", "file": {"path": str(path), **file}})


def csv_bytes(rows: int = 21, seed: int = 0) -> bytes:
    table = random_table(rows, seed)
    return ("\n".join([HEADER, *format_rows(table)]) + "\n").encode()


def tar_gz(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def assert_fetched(raw: Path, expected_csv: bytes, info: dict, source: str, origin: str) -> None:
    written = (raw / "fer2013.csv").read_bytes()
    assert written == expected_csv
    rows = expected_csv.count(b"\n") - 1
    assert info == {"source": source, "origin": origin, "rows": rows,
                    "sha256": hashlib.sha256(written).hexdigest()}
    assert json.loads((raw / "source.json").read_text()) == info
    assert sorted(p.name for p in raw.iterdir()) == ["fer2013.csv", "source.json"]


# --- CSV, CSV.gz and archives ------------------------------------------------------------------


def test_plain_csv_is_copied_unchanged_and_described(tmp_path: Path) -> None:
    data = csv_bytes()
    src = tmp_path / "mine.csv"
    src.write_bytes(data)
    raw = tmp_path / "data" / "raw"
    info = fetch_raw_csv(file_params(src), raw)
    assert_fetched(raw, data, info, "file", str(src))
    assert len(read_fer2013_csv(raw / "fer2013.csv")) == 21


def test_csv_gz_is_decompressed(tmp_path: Path) -> None:
    data = csv_bytes(30, seed=1)
    src = tmp_path / "fer2013.csv.gz"
    src.write_bytes(gzip.compress(data))
    info = fetch_raw_csv(file_params(src), tmp_path / "raw")
    assert_fetched(tmp_path / "raw", data, info, "file", str(src))


def test_last_row_without_newline_is_counted(tmp_path: Path) -> None:
    data = csv_bytes(5).rstrip(b"\n")
    src = tmp_path / "f.csv"
    src.write_bytes(data)
    assert fetch_raw_csv(file_params(src), tmp_path / "raw")["rows"] == 5


@pytest.mark.parametrize("member", ["fer2013/fer2013.csv", "deep/er/fer2013.csv", "fer2013.csv"])
def test_kaggle_tar_gz_is_searched_for_the_csv_wherever_it_lies(tmp_path: Path,
                                                                member: str) -> None:
    data = csv_bytes(14, seed=2)
    # Decoys first: other CSVs with FER-like names must not be taken.
    src = tar_gz(tmp_path / "fer2013.tar.gz", {"fer2013/README": b"hello",
                                               "fer2013/train.csv": b"emotion,pixels\n0,1 2\n",
                                               member: data})
    info = fetch_raw_csv(file_params(src), tmp_path / "raw")
    assert_fetched(tmp_path / "raw", data, info, "file", str(src))


def test_archive_is_recognised_by_content_not_name(tmp_path: Path) -> None:
    data = csv_bytes(7)
    src = tar_gz(tmp_path / "download.bin", {"fer2013/fer2013.csv": data})
    fetch_raw_csv(file_params(src), tmp_path / "raw")
    assert (tmp_path / "raw" / "fer2013.csv").read_bytes() == data


def test_archive_without_the_csv_lists_its_members(tmp_path: Path) -> None:
    src = tar_gz(tmp_path / "other.tar.gz", {"a/train.csv": b"x", "a/test.csv": b"y"})
    with pytest.raises(FerflowError, match="holds no fer2013.csv") as err:
        fetch_raw_csv(file_params(src), tmp_path / "raw")
    assert "a/train.csv" in str(err.value) and str(src) in str(err.value)


def test_truncated_archive_is_reported_as_damaged(tmp_path: Path) -> None:
    whole = tar_gz(tmp_path / "whole.tar.gz", {"fer2013/fer2013.csv": csv_bytes(40)})
    src = tmp_path / "cut.tar.gz"
    src.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(FerflowError, match="damaged or incomplete") as err:
        fetch_raw_csv(file_params(src), tmp_path / "raw")
    assert str(src) in str(err.value)
    assert not (tmp_path / "raw" / "fer2013.csv").exists()


def test_corrupt_gzip_is_reported_as_damaged(tmp_path: Path) -> None:
    src = tmp_path / "fer2013.csv.gz"
    src.write_bytes(b"\x1f\x8b\x08\x00" + bytes(range(200)))
    with pytest.raises(FerflowError, match="damaged or incomplete"):
        fetch_raw_csv(file_params(src), tmp_path / "raw")


@pytest.mark.parametrize(("content", "message"), [
    (b"", "empty"),
    (b"emotion,pixels\n0,1 2 3\n", "expected exactly 'emotion,pixels,Usage'.*train.csv"),
    (b"emotion, Usage, pixels\n0,Training,1 2\n", "header is 'emotion, Usage, pixels'"),
    (b"id,emotion,pixels,Usage\n1,0,1 2,Training\n", "header is 'id,emotion,pixels,Usage'"),
    (HEADER.encode() + b"\n", "no data rows"),
    (bytes(np.random.default_rng(0).integers(0, 256, 9000, dtype=np.uint8)), "binary"),
])
def test_a_file_that_is_not_a_fer2013_csv_is_rejected(tmp_path: Path, content: bytes,
                                                      message: str) -> None:
    src = tmp_path / "fer2013.csv"
    src.write_bytes(content)
    with pytest.raises(FerflowError, match=message) as err:
        fetch_raw_csv(file_params(src), tmp_path / "raw")
    assert str(src) in str(err.value)


def test_missing_file_names_the_path_and_the_setting(tmp_path: Path) -> None:
    with pytest.raises(FerflowError, match="no such file") as err:
        fetch_raw_csv(file_params(tmp_path / "nope.csv"), tmp_path / "raw")
    assert "nope.csv" in str(err.value) and "data.file.path" in str(err.value)


def test_failure_leaves_the_previous_output_untouched(tmp_path: Path) -> None:
    good = tmp_path / "good.csv"
    good.write_bytes(csv_bytes(9))
    raw = tmp_path / "raw"
    fetch_raw_csv(file_params(good), raw)
    before = {p.name: p.read_bytes() for p in raw.iterdir()}
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"emotion,pixels\n0,1\n")
    with pytest.raises(FerflowError):
        fetch_raw_csv(file_params(bad), raw)
    assert {p.name: p.read_bytes() for p in raw.iterdir()} == before  # no temp files either


# --- image folders -----------------------------------------------------------------------------


def write_folders(root: Path, per_class: int = 6, seed: int = 0) -> dict[str, np.ndarray]:
    """train/ and test/ with `per_class` PNGs per emotion; returns {relative path: pixels}."""
    table = random_table(2 * per_class * len(EMOTIONS), seed)
    pixels: dict[str, np.ndarray] = {}
    for i, image in enumerate(table.images):
        split = "train" if i % 2 == 0 else "test"
        name = f"{split}/{EMOTIONS[(i // 2) % 7]}/im{i:04d}.png"
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image, mode="L").save(root / name)
        pixels[name] = image
    return pixels


def test_image_folders_become_training_public_and_private_rows(tmp_path: Path) -> None:
    root = tmp_path / "faces"
    pixels = write_folders(root, per_class=6)
    # An RGB image of a grey face is converted; a JPEG is accepted.
    grey = np.full((48, 48), 77, dtype=np.uint8)
    Image.fromarray(np.stack([grey] * 3, axis=-1), mode="RGB").save(root / "train/sad/rgb.png")
    Image.fromarray(grey, mode="L").save(root / "test/fear/photo.jpg")
    (root / "train/sad/.DS_Store").write_bytes(b"junk")

    info = fetch_raw_csv(file_params(root, folder_val_share=0.5), tmp_path / "raw")
    table = read_fer2013_csv(tmp_path / "raw" / "fer2013.csv")
    assert info["rows"] == len(table) == 2 * 6 * 7 + 2
    assert info["origin"] == str(root)

    train = table.usages == "Training"
    assert train.sum() == 6 * 7 + 1
    # Training rows: by class, then file name; pixels exact.
    names = sorted((n for n in pixels if n.startswith("train/")),
                   key=lambda n: (EMOTIONS.index(n.split("/")[1]), n))
    sad = EMOTIONS.index("sad")
    expected = [pixels[n] for n in names if EMOTIONS.index(n.split("/")[1]) < sad]
    expected += [pixels[n] for n in names if n.split("/")[1] == "sad"] + [grey]
    expected += [pixels[n] for n in names if EMOTIONS.index(n.split("/")[1]) > sad]
    np.testing.assert_array_equal(table.images[train], np.stack(expected))
    assert list(table.labels[train]) == sorted(table.labels[train])

    # test/: per class, half PublicTest, the rest PrivateTest (fear has 7 → round(3.5) = 4).
    for label, name in enumerate(EMOTIONS):
        of_class = table.labels == label
        public = int((of_class & (table.usages == "PublicTest")).sum())
        private = int((of_class & (table.usages == "PrivateTest")).sum())
        assert (public, private) == ((4, 3) if name == "fear" else (3, 3))
    # Order: all Training, then PublicTest, then PrivateTest.
    order = {"Training": 0, "PublicTest": 1, "PrivateTest": 2}
    assert [order[u] for u in table.usages] == sorted(order[u] for u in table.usages)


def test_image_folder_split_depends_on_seed_only(tmp_path: Path) -> None:
    root = tmp_path / "faces"
    write_folders(root, per_class=10)

    def public_images(seed: int) -> np.ndarray:
        table = read_image_folders(root, val_share=0.3, seed=seed)
        return table.images[table.usages == "PublicTest"]

    first = public_images(1)
    assert len(first) == 3 * 7
    np.testing.assert_array_equal(first, public_images(1))
    assert not np.array_equal(first, public_images(2))


def test_image_of_the_wrong_size_is_named(tmp_path: Path) -> None:
    root = tmp_path / "faces"
    write_folders(root, per_class=1)
    Image.new("L", (64, 64)).save(root / "test/happy/big.png")
    with pytest.raises(FerflowError, match="64x64 pixels.*48x48") as err:
        fetch_raw_csv(file_params(root), tmp_path / "raw")
    assert "big.png" in str(err.value)


def test_unreadable_image_is_named(tmp_path: Path) -> None:
    root = tmp_path / "faces"
    write_folders(root, per_class=1)
    (root / "train/angry/broken.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(FerflowError, match="cannot read this image") as err:
        fetch_raw_csv(file_params(root), tmp_path / "raw")
    assert "broken.jpg" in str(err.value)


def test_unknown_class_folder_and_missing_split_are_reported(tmp_path: Path) -> None:
    root = tmp_path / "faces"
    write_folders(root, per_class=1)
    (root / "train/contempt").mkdir()
    with pytest.raises(FerflowError, match="unknown class folder 'contempt'"):
        fetch_raw_csv(file_params(root), tmp_path / "raw")
    (root / "train/contempt").rmdir()
    for image in (root / "test").rglob("*.png"):
        image.unlink()
    with pytest.raises(FerflowError, match="no .png or .jpg images"):
        fetch_raw_csv(file_params(root), tmp_path / "raw")
    with pytest.raises(FerflowError, match="has no train/ folder"):
        fetch_raw_csv(file_params(root / "test"), tmp_path / "raw")


# --- synthetic ---------------------------------------------------------------------------------


def test_synthetic_source_writes_the_generated_faces(tmp_path: Path) -> None:
    params = DataParams.model_validate({"source": "synthetic", "seed": 3,
                                        "synthetic": {"rows": 70}})
    info = fetch_raw_csv(params, tmp_path / "raw")
    table = read_fer2013_csv(tmp_path / "raw" / "fer2013.csv")
    assert info["source"] == "synthetic" and info["origin"] == "synthetic"
    assert info["rows"] == len(table) == 70
    assert set(table.usages) == {"Training", "PublicTest", "PrivateTest"}
    again = fetch_raw_csv(params, tmp_path / "raw2")
    assert again["sha256"] == info["sha256"]


# --- Kaggle ------------------------------------------------------------------------------------


@pytest.fixture
def no_kaggle_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    for name in ("KAGGLE_API_TOKEN", "KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_CONFIG_DIR"):
        monkeypatch.delenv(name, raising=False)
    return home


def test_kaggle_without_credentials_says_how_to_provide_them(tmp_path: Path,
                                                             no_kaggle_credentials: Path) -> None:
    params = DataParams.model_validate({"source": "kaggle"})
    raw = tmp_path / "raw"
    with pytest.raises(FerflowError) as err:
        fetch_raw_csv(params, raw)
    message = str(err.value)
    for hint in ("KAGGLE_API_TOKEN", "kaggle.json", "KAGGLE_USERNAME", "KAGGLE_KEY",
                 "kaggle.com/settings/api", "data.source: file",
                 f"{params.kaggle.competition}/rules"):
        assert hint in message
    assert "\n" not in message
    assert not (raw / "fer2013.csv").exists()


def test_kaggle_credentials_are_found_where_the_client_looks(
        tmp_path: Path, no_kaggle_credentials: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert not kaggle_credentials_found()
    config = tmp_path / "kconf"
    config.mkdir()
    (config / "kaggle.json").write_text('{"username": "u", "key": "k"}')
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(config))
    assert kaggle_credentials_found()
    monkeypatch.delenv("KAGGLE_CONFIG_DIR")
    monkeypatch.setenv("KAGGLE_USERNAME", "u")
    assert not kaggle_credentials_found()  # a user name alone is not enough
    monkeypatch.setenv("KAGGLE_KEY", "k")
    assert kaggle_credentials_found()


@pytest.mark.parametrize("member", ["fer2013.tar.gz", "fer2013/fer2013.csv"])
def test_kaggle_competition_zip_is_unpacked_to_the_csv(tmp_path: Path, member: str) -> None:
    """The competition zip holds fer2013.tar.gz (or the CSV) among Kaggle's other FER files."""
    data = csv_bytes(12, seed=5)
    inner = tar_gz(tmp_path / "fer2013.tar.gz", {"fer2013/fer2013.csv": data})
    download = tmp_path / "download"
    download.mkdir()
    with zipfile.ZipFile(download / "fer-challenge.zip", "w") as archive:
        archive.writestr("example_submission.csv", "id,emotion\n")
        archive.writestr("icml_face_data.csv", "emotion, Usage, pixels\n")
        archive.writestr("train.csv", "emotion,pixels\n")
        if member.endswith(".tar.gz"):
            archive.write(inner, member)
        else:
            archive.writestr(member, data)
    out = tmp_path / "fer2013.csv"
    assert import_kaggle_download(download, out, "fer-challenge") == 12
    assert out.read_bytes() == data


def test_kaggle_download_without_fer_files_is_reported(tmp_path: Path) -> None:
    (tmp_path / "readme.txt").write_text("nothing here")
    with pytest.raises(FerflowError, match="no fer2013.csv or archive"):
        import_kaggle_download(tmp_path, tmp_path / "out.csv", "some-competition")


# --- the stage script --------------------------------------------------------------------------


def run_stage(cwd: Path, params: str) -> subprocess.CompletedProcess[str]:
    """The download stage in `cwd` with params.yaml's keys and the YAML `params` on top."""
    write_params(cwd / "params.yaml", params_tree(**yaml.safe_load(params)))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run([sys.executable, str(REPO / "pipeline" / "download.py")], cwd=cwd,
                          capture_output=True, text=True, env=env, timeout=120)


def test_stage_reports_a_missing_file_without_traceback(tmp_path: Path) -> None:
    done = run_stage(tmp_path, "data:\n  source: file\n  file: {path: missing/fer2013.csv}\n")
    assert done.returncode == 2
    assert done.stderr.startswith("ferflow: error: missing/fer2013.csv: no such file")
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "data" / "raw" / "fer2013.csv").exists()


def test_stage_writes_raw_csv_and_prints_a_summary(tmp_path: Path) -> None:
    write_fer2013_csv(tmp_path / "in.csv", random_table(8))
    done = run_stage(tmp_path, "data:\n  source: file\n  file: {path: in.csv}\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("data/raw/fer2013.csv: 8 rows from file (in.csv), sha256 ")
    info = json.loads((tmp_path / "data" / "raw" / "source.json").read_text())
    assert info["rows"] == 8 and info["origin"] == "in.csv"


def test_sigkill_leftover_is_removed_by_the_next_successful_download(tmp_path: Path) -> None:
    raw = tmp_path / "data" / "raw"
    # A server that accepts connections and never answers: the download waits inside the
    # stage's atomic write, with its temporary CSV beside fer2013.csv, until it is killed.
    with socket.create_server(("127.0.0.1", 0)) as silent:
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/fer2013.csv"
        write_params(tmp_path / "params.yaml", params_tree(data={
            "source": "url", "url": {"url": url, "retries": 0, "timeout_s": 120}}))
        stage = subprocess.Popen([sys.executable, str(REPO / "pipeline" / "download.py")],
                                 cwd=tmp_path, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 60
        while not list(raw.glob(".fer2013.csv.tmp-*")):
            assert stage.poll() is None, stage.communicate()[0]
            assert time.monotonic() < deadline, "no temporary CSV within 60 s"
            time.sleep(0.01)
        stage.kill()
        stage.wait()
    (left,) = raw.glob(".fer2013.csv.tmp-*")
    assert left.name.startswith(f".fer2013.csv.tmp-{stage.pid}-") and left.suffix == ".csv"

    done = run_stage(tmp_path, "data:\n  source: synthetic\n  synthetic: {rows: 70}\n")
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in raw.iterdir()) == ["fer2013.csv", "source.json"]
