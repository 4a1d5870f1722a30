"""Where the raw FER2013 CSV comes from: synthetic faces, a local file, a URL or Kaggle.

`fetch_raw_csv` writes `raw_dir/fer2013.csv` (header `emotion,pixels,Usage`) and
`raw_dir/source.json`. Every source ends in the same place: the CSV is checked to be a FER2013
CSV (header, not empty) and written atomically, so a failure leaves the previous output as it
was. Checking each row is the preprocess stage's job.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import tarfile
import tempfile
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import IO

import numpy as np
from PIL import Image

from ferflow import EMOTIONS, IMAGE_SIZE
from ferflow.atomic import atomic_path
from ferflow.config import DataParams
from ferflow.data.download import display_url, download, sha256_file
from ferflow.data.fer_csv import HEADER, FerTable, make_table, write_fer2013_csv
from ferflow.data.source_record import write_source_record
from ferflow.errors import FerflowError
from ferflow.layout import RAW_CSV, SOURCE_JSON
from ferflow.progress import Progress, track

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
_COPY_BYTES = 1 << 20
_HEADER_LIMIT = 4096  # a longer first line is not a FER2013 header (and may be binary)


def fetch_raw_csv(params: DataParams, raw_dir: Path) -> dict:
    """Write `raw_dir/fer2013.csv` from `params.source` and describe it in `raw_dir/source.json`.

    Returns the description: {"source", "origin", "sha256" (of fer2013.csv), "rows"}.
    """
    raw_dir = Path(raw_dir)
    raw_dir.mkdir(parents=True, exist_ok=True)
    write = _WRITERS[params.source]
    with atomic_path(raw_dir / RAW_CSV) as tmp:
        origin, rows = write(params, raw_dir, tmp)
        digest = sha256_file(tmp)
    info = {"source": params.source, "origin": origin, "sha256": digest, "rows": rows}
    write_source_record(raw_dir / SOURCE_JSON, info)
    return info


# --- the four sources: each writes the CSV to `out` and returns (origin, rows) -----------------


def _from_synthetic(params: DataParams, raw_dir: Path, out: Path) -> tuple[str, int]:
    from ferflow.data.synthetic import write_synthetic_csv

    table = write_synthetic_csv(out, params.synthetic, params.seed)
    return "synthetic", len(table)


def _from_file(params: DataParams, raw_dir: Path, out: Path) -> tuple[str, int]:
    path = Path(params.file.path).expanduser()
    rows = import_path(path, out, seed=params.seed, val_share=params.file.folder_val_share)
    return params.file.path, rows


def _from_url(params: DataParams, raw_dir: Path, out: Path) -> tuple[str, int]:
    url = params.url
    got = download(url.url, raw_dir, sha256=url.sha256, retries=url.retries,
                   timeout_s=url.timeout_s, backoff_s=url.backoff_s)
    try:
        rows = _import_file(got, out, display_url(url.url), "data.url.url")
    except FerflowError:
        got.unlink()  # complete but unusable: a rerun should fetch afresh, not "resume" it
        raise
    got.unlink()
    return display_url(url.url), rows


def _from_kaggle(params: DataParams, raw_dir: Path, out: Path) -> tuple[str, int]:
    competition = params.kaggle.competition
    require_kaggle_credentials(competition)
    with tempfile.TemporaryDirectory(prefix=".kaggle-", dir=raw_dir) as folder:
        _kaggle_download(competition, Path(folder))
        rows = import_kaggle_download(Path(folder), out, competition)
    return competition, rows


_WRITERS: dict[str, Callable[[DataParams, Path, Path], tuple[str, int]]] = {
    "synthetic": _from_synthetic,
    "file": _from_file,
    "url": _from_url,
    "kaggle": _from_kaggle,
}


# --- local files: CSV, CSV.gz, archives, image folders -----------------------------------------


def import_path(path: Path, out: Path, *, seed: int = 42, val_share: float = 0.5) -> int:
    """Write the FER2013 CSV at `path` to `out`; return its data rows.

    `path` is a `fer2013.csv`, a `.csv.gz`, an archive holding one (Kaggle's `fer2013.tar.gz`,
    or a zip; nested archives are searched), or an image-folder tree (see `read_image_folders`).
    """
    if path.is_dir():
        table = read_image_folders(path, val_share=val_share, seed=seed)
        write_fer2013_csv(out, table)
        return len(table)
    if not path.is_file():
        raise FerflowError(f"{path}: no such file or folder (data.file.path). Point it at "
                           "fer2013.csv, fer2013.tar.gz, or a folder with train/ and test/ "
                           "image folders; paths are relative to the repository root.")
    return _import_file(path, out, str(path), "data.file.path")


def _sniff(path: Path, label: str, setting: str) -> str:
    """What `path` holds, from its first bytes (downloads can have any name): zip, tar,
    csv.gz or csv."""
    with path.open("rb") as f:
        head = f.read(512)
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return "zip"
    if head[257:262] == b"ustar":
        return "tar"
    if head.startswith(b"\x1f\x8b"):
        try:
            with gzip.open(path) as g:
                inner = g.read(512)
        except (OSError, EOFError, zlib.error) as exc:
            raise _bad_archive(label, "gzip", exc, setting) from None
        return "tar" if inner[257:262] == b"ustar" else "csv.gz"
    return "csv"


def _member_kind(name: str) -> str | None:
    """How to read an archive member, by its name: the CSV itself or another archive."""
    base = name.rsplit("/", 1)[-1].lower()
    if base == "fer2013.csv":
        return "csv"
    if base == "fer2013.csv.gz":
        return "csv.gz"
    if base.endswith((".tar.gz", ".tgz", ".tar")):
        return "tar"
    if base.endswith(".zip"):
        return "zip"
    return None


_PREFERENCE = {"csv": 0, "csv.gz": 1, "tar": 2, "zip": 3}


def _find_csv(stream: IO[bytes], kind: str, label: str, stack: contextlib.ExitStack,
              seen: list[str]) -> tuple[IO[bytes], str] | None:
    """The stream of the FER2013 CSV inside `stream` and where it is, or None if absent.

    Everything opened is registered on `stack`; archive members seen are added to `seen`.
    """
    if kind == "csv":
        return stream, label
    if kind == "csv.gz":
        return stack.enter_context(gzip.GzipFile(fileobj=stream, mode="rb")), label
    if kind == "tar":
        # Stream mode: one pass over a .tar.gz, with no temporary files.
        tar = stack.enter_context(tarfile.open(fileobj=stream, mode="r|*"))  # noqa: SIM115
        for member in tar:
            seen.append(member.name)
            inner = _member_kind(member.name) if member.isfile() else None
            if inner is None or inner == "zip":  # a zip needs seeking, which a stream can't do
                continue
            member_stream = tar.extractfile(member)
            assert member_stream is not None  # a regular file always has a stream
            found = _find_csv(member_stream, inner, f"{label}:{member.name}", stack, seen)
            if found is not None:
                return found
        return None
    archive = stack.enter_context(zipfile.ZipFile(stream))
    members = [info for info in archive.infolist() if not info.is_dir()]
    seen.extend(info.filename for info in members)
    candidates = [(k, info) for info in members if (k := _member_kind(info.filename))]
    for inner, info in sorted(candidates, key=lambda c: _PREFERENCE[c[0]]):
        found = _find_csv(stack.enter_context(archive.open(info)), inner,
                          f"{label}:{info.filename}", stack, seen)
        if found is not None:
            return found
    return None


def _bad_archive(label: str, kind: str, exc: BaseException, setting: str) -> FerflowError:
    return FerflowError(f"{label}: cannot read this {kind} file ({type(exc).__name__}: {exc}). "
                        "It is damaged or incomplete: download it again, or check "
                        f"{setting}.")


def _import_file(path: Path, out: Path, label: str, setting: str) -> int:
    """Copy the FER2013 CSV in file `path` (csv, csv.gz or an archive) to `out`, streamed."""
    kind = _sniff(path, label, setting)
    seen: list[str] = []
    try:
        with path.open("rb") as raw, contextlib.ExitStack() as stack:
            found = _find_csv(raw, kind, label, stack, seen)
            if found is None:
                shown = ", ".join(seen[:12]) + (", ..." if len(seen) > 12 else "")
                raise FerflowError(
                    f"{label}: this {kind} archive holds no fer2013.csv (members: "
                    f"{shown or 'none'}). Use Kaggle's fer2013.tar.gz (it holds "
                    f"fer2013/fer2013.csv) or the CSV itself, and set {setting} to it.")
            stream, where = found
            size = path.stat().st_size
            with Progress(size, f"write {RAW_CSV}", unit="B") as progress:
                return copy_fer2013_csv(stream, out, where, raw.tell, progress)
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise _bad_archive(label, kind, exc, setting) from None


def check_header(first_line: bytes, label: str) -> None:
    """Raise FerflowError unless `first_line` is the FER2013 header `emotion,pixels,Usage`."""
    if not first_line:
        raise FerflowError(f"{label}: the file is empty, not a FER2013 CSV. Download it again "
                           "or point the source at the right file.")
    line = first_line.removeprefix(b"\xef\xbb\xbf").rstrip(b"\r\n")
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        text = "\x00"
    if len(first_line) >= _HEADER_LIMIT or not text.replace("\t", " ").isprintable():
        raise FerflowError(f"{label}: starts with binary data or a very long line, not a FER2013 "
                           f"CSV (header {HEADER!r}). Point the source at fer2013.csv, a .csv.gz, "
                           "fer2013.tar.gz or an image folder.")
    columns = [c.strip() for c in text.split(",")]
    if columns == HEADER.split(","):
        return
    hint = ""
    if "pixels" in columns:
        hint = (" This looks like one of Kaggle's other FER files (train.csv, test.csv, "
                "icml_face_data.csv), which lack or reorder the Usage/emotion columns; use "
                "fer2013.csv from fer2013.tar.gz.")
    raise FerflowError(f"{label}: the header is {text[:120]!r}, expected exactly {HEADER!r}."
                       f"{hint} Point the source at the FER2013 CSV.")


def copy_fer2013_csv(stream: IO[bytes], out: Path, label: str,
                     position: Callable[[], int] | None = None,
                     progress: Progress | None = None) -> int:
    """Copy a FER2013 CSV from `stream` to `out` chunk by chunk; return the data rows.

    Checks the header and that there is at least one data row; the bytes are copied unchanged.
    `position` (bytes of the input consumed) drives `progress`.
    """
    header = stream.readline(_HEADER_LIMIT)
    check_header(header, label)
    rows, last, done = 0, b"\n", 0
    with out.open("wb") as f:
        f.write(header)
        while chunk := stream.read(_COPY_BYTES):
            f.write(chunk)
            rows += chunk.count(b"\n")
            last = chunk[-1:]
            if position is not None and progress is not None:
                now = position()
                progress.update(max(0, now - done))
                done = max(done, now)
    if last != b"\n":  # the last row has no newline
        rows += 1
    if rows == 0:
        raise FerflowError(f"{label}: has the FER2013 header but no data rows. Download it "
                           "again or point the source at the full file.")
    return rows


# --- image folders -----------------------------------------------------------------------------


def read_image_folders(root: Path, *, val_share: float, seed: int) -> FerTable:
    """Kaggle's image-folder FER2013 as a FerTable.

    Layout: `root/train/<emotion>/*.png|jpg` and `root/test/<emotion>/*.png|jpg`, with emotion
    folders named angry, disgust, fear, happy, sad, surprise, neutral. Images must be 48x48;
    colour images are converted to grey.

    Usage: train/ becomes Training. test/ is split per class: a share `val_share` of each
    class's images (rounded) becomes PublicTest (validation), the rest PrivateTest (test). Which
    images go where depends only on `seed`, the class and the sorted file names, so the split is
    the same on every machine. Rows are ordered Training, PublicTest, PrivateTest; within each,
    by class, then file name.
    """
    train = _list_images(root, "train")
    test = _list_images(root, "test")
    public, private = _split_per_class(test, val_share, seed)
    rows = ([(p, c, "Training") for p, c in train] + [(p, c, "PublicTest") for p, c in public]
            + [(p, c, "PrivateTest") for p, c in private])
    images = np.empty((len(rows), IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)
    for i, (path, _, _) in enumerate(track(rows, len(rows), "read images", unit="img")):
        images[i] = _read_face(path)
    return make_table(images, [c for _, c, _ in rows], [u for _, _, u in rows])


def _list_images(root: Path, split: str) -> list[tuple[Path, int]]:
    """(image, class) of `root/split/<emotion>/`, sorted by class then file name."""
    folder = root / split
    layout = ("an image-folder data set needs train/<emotion>/ and test/<emotion>/ with emotion "
              f"folders named {', '.join(EMOTIONS)}")
    if not folder.is_dir():
        raise FerflowError(f"{root}: has no {split}/ folder; {layout}. Point data.file.path at "
                           "the folder that holds train/ and test/ (or at a FER2013 CSV).")
    found: list[tuple[Path, int]] = []
    for sub in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if sub.name.lower() not in EMOTIONS:
            raise FerflowError(f"{sub}: unknown class folder {sub.name!r}; {layout}. Rename or "
                               "remove it.")
        label = EMOTIONS.index(sub.name.lower())
        found += [(p, label) for p in sorted(sub.iterdir())
                  if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")]
    if not found:
        raise FerflowError(f"{folder}: no .png or .jpg images found; {layout}.")
    return sorted(found, key=lambda item: (item[1], item[0].name))


def _split_per_class(items: list[tuple[Path, int]], share: float,
                     seed: int) -> tuple[list[tuple[Path, int]], list[tuple[Path, int]]]:
    """Split into (share, rest) within each class, reproducibly from `seed`."""
    chosen: set[Path] = set()
    for label in range(len(EMOTIONS)):
        paths = [p for p, c in items if c == label]
        # One generator per class: a class's split does not shift when another class changes.
        order = np.random.default_rng([seed, label]).permutation(len(paths))
        chosen.update(paths[i] for i in order[: int(share * len(paths) + 0.5)])
    return ([item for item in items if item[0] in chosen],
            [item for item in items if item[0] not in chosen])


def _read_face(path: Path) -> np.ndarray:
    try:
        with Image.open(path) as image:
            if image.size != (IMAGE_SIZE, IMAGE_SIZE):
                width, height = image.size
                raise FerflowError(f"{path}: image is {width}x{height} pixels; FER2013 faces are "
                                   f"{IMAGE_SIZE}x{IMAGE_SIZE}. Resize the images to "
                                   f"{IMAGE_SIZE}x{IMAGE_SIZE} (or use the CSV release).")
            return np.asarray(image.convert("L"), dtype=np.uint8)
    except OSError as exc:
        raise FerflowError(f"{path}: cannot read this image ({exc}); replace or delete the "
                           "file.") from None


# --- Kaggle ------------------------------------------------------------------------------------


def _kaggle_config_dirs() -> list[Path]:
    """Where the Kaggle client looks for kaggle.json / access_token / credentials.json."""
    home = Path.home()
    dirs = [home / ".kaggle"]
    if os.environ.get("KAGGLE_CONFIG_DIR"):
        dirs.insert(0, Path(os.environ["KAGGLE_CONFIG_DIR"]))
    xdg = os.environ.get("XDG_CONFIG_HOME") or str(home / ".config")
    dirs.append(Path(xdg) / "kaggle")
    return dirs


def kaggle_credentials_found() -> bool:
    """Whether any Kaggle credential the official client accepts is present (no network)."""
    if os.environ.get("KAGGLE_API_TOKEN"):
        return True
    if os.environ.get("KAGGLE_USERNAME") and os.environ.get("KAGGLE_KEY"):
        return True
    names = ("kaggle.json", "access_token", "access_token.txt", "credentials.json")
    return any((folder / name).is_file() for folder in _kaggle_config_dirs() for name in names)


def require_kaggle_credentials(competition: str) -> None:
    """Raise a FerflowError saying how to provide credentials if there are none.

    Checked before importing `kaggle`: the client authenticates on import and prints its own
    help (or exits) when it finds nothing.
    """
    if kaggle_credentials_found():
        return
    raise FerflowError(
        "data.source is 'kaggle' but no Kaggle API credentials were found. Create a token at "
        "https://www.kaggle.com/settings/api, then either export KAGGLE_API_TOKEN=<token> (or "
        "save it in ~/.kaggle/access_token), or save the legacy kaggle.json as "
        "~/.kaggle/kaggle.json (chmod 600), or export KAGGLE_USERNAME and KAGGLE_KEY. Accept the "
        f"competition rules at https://www.kaggle.com/c/{competition}/rules first. Without an "
        "account: download fer2013.tar.gz yourself and set data.source: file.")


def _kaggle_download(competition: str, folder: Path) -> None:
    """Fetch the competition's files into `folder` with the official client."""
    try:
        import requests
        from kaggle.api.kaggle_api_extended import KaggleApi
    except ImportError:
        raise FerflowError("data.source is 'kaggle' but the kaggle package is not installed: "
                           "pip install 'ferflow[kaggle]' (or use data.source: file).") from None
    api = KaggleApi()
    try:
        api.authenticate()
        api.competition_download_files(competition, path=str(folder), force=True, quiet=False)
    except SystemExit:  # the client exits when its credentials are rejected
        raise FerflowError("Kaggle rejected the credentials: create a new token at "
                           "https://www.kaggle.com/settings/api and set it up again.") from None
    except requests.HTTPError as exc:
        code = exc.response.status_code if exc.response is not None else "?"
        raise FerflowError(
            f"Kaggle competition {competition!r}: HTTP {code}. A 403 means the competition rules "
            f"are not accepted yet (https://www.kaggle.com/c/{competition}/rules); a 404 means "
            "data.kaggle.competition is misspelt; a 401 means the credentials are wrong.") from None
    except requests.RequestException as exc:
        raise FerflowError(f"Kaggle competition {competition!r}: cannot download ({exc}). Check "
                           "the network connection and run again.") from None


def import_kaggle_download(folder: Path, out: Path, competition: str) -> int:
    """Write the FER2013 CSV from what the Kaggle client left in `folder` to `out`.

    The competition download is one zip (`<competition>.zip`) that holds fer2013.tar.gz among
    other files; a folder of already unpacked files works too.
    """
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    ranked = sorted((_PREFERENCE[k], p) for p in files if (k := _member_kind(p.name)))
    if not ranked:
        shown = ", ".join(p.name for p in files) or "nothing"
        raise FerflowError(f"Kaggle competition {competition!r}: the download ({shown}) has no "
                           "fer2013.csv or archive. Check data.kaggle.competition.")
    path = ranked[0][1]
    return _import_file(path, out, f"kaggle:{competition}/{path.name}", "data.kaggle.competition")
