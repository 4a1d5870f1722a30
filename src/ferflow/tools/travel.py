"""Pack what a GPU window needs to travel with the working tree: the split arrays, xz-compressed,
and the wheels the device host lacks, under the device tool's 64 MiB limit.

The arrays go as one `.npz.xz`: xz with a delta filter of one image row (48 bytes) stores each
pixel as its difference to the pixel above, which FER2013's faces compress best (the dev set:
71 MiB of pixels in about 49 MiB). Unpacking restores `data/arrays/<split>.npz` bit for bit.
"""

from __future__ import annotations

import io
import lzma
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from ferflow import IMAGE_SIZE, SPLITS
from ferflow.errors import FerflowError
from ferflow.layout import arrays_file

PACKED_ARRAYS = "arrays.npz.xz"
LIMIT_BYTES = 64 * 2**20
"""The device tool's limit on everything that travels: the working tree plus carried paths."""
_FILTERS = [{"id": lzma.FILTER_DELTA, "dist": IMAGE_SIZE},
            {"id": lzma.FILTER_LZMA2, "preset": 6}]

DEVICE_WHEELS = ("keras", "namex", "optree", "pydantic", "pydantic-core", "annotated-types",
                 "typing-inspection")
"""What the GPU host lacks for ferflow's training code (it has JAX, numpy, h5py, ml-dtypes,
absl-py, rich, pyyaml, pillow, tqdm, matplotlib: see the device tool's KINDS.md); versions are
the lock's. MLflow stays behind: the window tracks into a folder."""


def pack_arrays(arrays_dir: Path, target: Path) -> int:
    """Write the splits of `arrays_dir` into `target` (.npz.xz); returns its size in bytes."""
    buffer = io.BytesIO()
    arrays = {}
    for split in SPLITS:
        with np.load(arrays_file(arrays_dir, split)) as data:
            arrays.update({f"{split}_{key}": data[key] for key in ("x", "y", "row")})
    np.savez(buffer, **arrays)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(lzma.compress(buffer.getvalue(), format=lzma.FORMAT_XZ, filters=_FILTERS))
    return target.stat().st_size


def unpack_arrays(packed: Path, arrays_dir: Path) -> dict[str, int]:
    """Restore `arrays_dir/<split>.npz` from `pack_arrays`' file; returns the rows per split."""
    from ferflow.data.arrays import write_split

    try:
        raw = lzma.decompress(packed.read_bytes(), format=lzma.FORMAT_XZ)
    except FileNotFoundError:
        raise FerflowError(f"{packed}: not found; pack it first (ferflow travel pack)") from None
    except lzma.LZMAError as exc:
        raise FerflowError(f"{packed}: not an xz file ({exc}); pack it again") from None
    arrays_dir.mkdir(parents=True, exist_ok=True)
    rows = {}
    with np.load(io.BytesIO(raw)) as data:
        for split in SPLITS:
            write_split(arrays_dir, split, data[f"{split}_x"], data[f"{split}_y"],
                        data[f"{split}_row"])
            rows[split] = len(data[f"{split}_y"])
    return rows


def locked_versions(lock: Path, names: tuple[str, ...]) -> list[str]:
    """`name==version` for each of `names`, as `lock` (requirements.lock) pins it."""
    pins = {}
    for line in lock.read_text(encoding="utf-8").splitlines():
        name, sep, version = line.partition("==")
        if sep:
            pins[name.strip().lower().replace("_", "-")] = version.strip()
    missing = [n for n in names if n not in pins]
    if missing:
        raise FerflowError(f"{lock}: pins no {', '.join(missing)}; run make lock")
    return [f"{n}=={pins[n]}" for n in names]


def download_wheels(requirements: list[str], target: Path, python: str = "3.12") -> None:
    """Fetch manylinux x86-64 wheels of `requirements` for the device host's Python."""
    platforms = ["manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64",
                 "manylinux2014_x86_64"]
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
               "--only-binary=:all:", "--python-version", python, "--implementation", "cp",
               *(arg for p in platforms for arg in ("--platform", p)), "-d", str(target),
               *requirements]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        raise FerflowError(f"pip could not fetch the device wheels ({done.stderr.strip()[-400:]})")


def travelling_bytes(repo: Path, carried: list[Path]) -> int:
    """What a device call sends: git's tracked and untracked-not-ignored files, plus `carried`."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                             "--exclude-standard"], cwd=repo, capture_output=True, check=True)
    files = [repo / os.fsdecode(name) for name in listed.stdout.split(b"\0") if name]
    total = sum(f.stat().st_size for f in files if f.is_file())
    for path in carried:
        total += sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    return total


def pack_fer_csv(csv: Path, target: Path) -> dict[str, int]:
    """FER2013 CSV (or .csv.gz) → the pipeline's own download and preprocess code, in a
    temporary folder → `target`. Returns the rows per split."""
    from ferflow.data.preprocess import preprocess_csv
    from ferflow.data.sources import import_path
    from ferflow.layout import Layout

    with tempfile.TemporaryDirectory() as tmp:
        layout = Layout(Path(tmp))
        layout.raw_dir.mkdir(parents=True)
        import_path(csv, layout.raw_csv)
        counts = preprocess_csv(layout.raw_csv, layout.data_dir)
        pack_arrays(layout.arrays_dir, target)
    return {split: sum(per_class.values()) for split, per_class in counts.items()}
