"""A short GPU window: train and evaluate backbones with the full FER2013 recipe inside a fixed
wall-time budget, on a host that has JAX but no MLflow, and bring back a few files.

    ferflow gpu-window prepare --csv ../shared/data/fer2013-dev.csv.gz   # here: .gpuwin/
    bash benchmarks/gpu_window.sh                                        # there, one call
    bash benchmarks/gpu_window.sh --rehearse                             # here, on CPU

`run` trains the backbones in `PRIORITY` order (vgg16, vgg19, resnet18 first), each with the
recipe of params.yaml + configs/fer2013.yaml through the same `train_backbone` and
`evaluate_backbone` as the stages, tracking into a folder. Each backbone gets its share of the
time left as `time_budget_s`; one that cannot get `MIN_SHARE_S` is skipped and said so. The
device tool brings back at most 8 files two folders down, so the results come as
`summary.json`, `summary.md` and `details.tar.gz` (every metrics file and learning curve).
"""

from __future__ import annotations

import json
import shutil
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from ferflow.errors import FerflowError
from ferflow.layout import Layout

PRIORITY = ("vgg16", "vgg19", "resnet18", "cpu_net", "resnet50", "alexnet", "shallow_cnn")
MIN_SHARE_S = 45.0
"""Below this, a backbone would stop inside its first epochs: skip it instead."""
EVAL_RESERVE_S = 25.0
"""Kept per backbone for model loading, evaluation with TTA and writing the outputs."""
REHEARSAL = {"train": {"epochs": 2, "batch_size": 32, "early_stopping_patience": 0},
             "models": {b: {"width": 0.0625, "epochs": 2} for b in PRIORITY}}
"""`--rehearse`: the same script on CPU in a minute or two: tiny widths, two epochs."""
REHEARSAL_ROWS = {"train": 280, "val": 70, "test": 70}
THROUGHPUT = {"backbone": "vgg19", "width": 1.0, "batch_size": 1024, "steps": 20}
"""First, a throughput check against the issue's target (20,000 images/s for vgg19 at width
1.0): `ferflow benchmark train`'s measurement, in the recipe's precision."""
REHEARSAL_THROUGHPUT = {"backbone": "vgg19", "width": 0.0625, "batch_size": 8, "steps": 2}


def window_params(repo: Path, rehearse: bool) -> Any:
    from ferflow.config import merge_sections
    from ferflow.tools.overrides import params_with, read_override_file

    config = repo / "configs" / "fer2013.yaml"
    tree = read_override_file(config)
    if rehearse:
        tree = merge_sections(tree, REHEARSAL)
    return params_with(tree, repo / "params.yaml", str(config))


def _subsample(layout: Layout, rows: dict[str, int]) -> None:
    from ferflow.data.arrays import write_split

    for split, n in rows.items():
        with np.load(layout.arrays(split)) as data:
            x, y, row = data["x"][:n], data["y"][:n], data["row"][:n]
        write_split(layout.arrays_dir, split, x, y, row)


def _with_budget(params: Any, backbone: str, seconds: float) -> Any:
    from ferflow.config import merge_sections, parse_params

    tree = params.model_dump(by_alias=True)
    tree = merge_sections(tree, {"models": {backbone: {"time_budget_s": round(seconds, 1)}}})
    return parse_params(tree, f"window params + models.{backbone}.time_budget_s")


def run_window(packed: Path, out: Path, *, budget_s: float, repo: Path, rehearse: bool = False,
               backbones: tuple[str, ...] = PRIORITY) -> dict[str, Any]:
    """Train and evaluate `backbones` within `budget_s` seconds of wall time from now; write
    `out/summary.json`, `out/summary.md` and `out/details.tar.gz`; return the summary."""
    from ferflow import backend
    from ferflow.evaluation.evaluate import evaluate_backbone
    from ferflow.tools.travel import unpack_arrays
    from ferflow.tracking.folder import FolderTracker
    from ferflow.training.loop import train_backbone

    deadline = time.monotonic() + budget_s
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="gpu-window-"))
    layout = Layout(work)
    rows = unpack_arrays(packed, layout.arrays_dir)
    if rehearse:
        _subsample(layout, REHEARSAL_ROWS)
        rows = dict(REHEARSAL_ROWS)
    params = window_params(repo, rehearse)
    tracker = FolderTracker(f"folder:{work / 'runs'}", "gpu-window")
    summary: dict[str, Any] = {"device": backend.device_description(),
                               "keras_backend": backend.backend_name(), "rows": rows,
                               "budget_s": budget_s, "rehearsal": rehearse,
                               "throughput": _throughput(params, rehearse), "backbones": {}}
    _write_summary(summary, out)
    for i, backbone in enumerate(backbones):
        left = deadline - time.monotonic()
        share = left / (len(backbones) - i) if i >= 3 else left / max(1, 3 - i)
        share = min(share, left) - EVAL_RESERVE_S
        if share < MIN_SHARE_S and not rehearse:
            summary["backbones"][backbone] = {"skipped": f"{left:.0f} s left"}
            continue
        started = time.monotonic()
        trained = train_backbone(backbone, _with_budget(params, backbone, max(share, 1.0)),
                                 layout=layout, tracker=tracker)
        evaluated = evaluate_backbone(backbone, params.evaluate, layout)
        summary["backbones"][backbone] = {
            "wall_s": round(time.monotonic() - started, 1),
            **{k: trained[k] for k in ("best_val_accuracy", "best_epoch", "epochs_run",
                                       "stopped_by", "train_time_s", "images_per_s", "params",
                                       "precision")},
            **{f"{split}_{key}": evaluated[split][key] for split in ("val", "test")
               for key in ("accuracy", "accuracy_flip", "accuracy_ten_crop", "macro_f1")},
        }
        _write_summary(summary, out)
    _write_summary(summary, out)
    with tarfile.open(out / "details.tar.gz", "w:gz") as tar:
        for folder in ("metrics", "plots", "runs"):
            if (work / folder).exists():
                # Not the models: a full-width VGG alone is over the 16 MiB a file may bring.
                tar.add(work / folder, arcname=folder, filter=lambda member: None
                        if member.name.endswith(".keras") else member)
    shutil.rmtree(work, ignore_errors=True)
    return summary


def _throughput(params: Any, rehearse: bool) -> dict[str, Any]:
    from dataclasses import asdict

    from ferflow.tools.train_benchmark import measure_training

    check = dict(REHEARSAL_THROUGHPUT if rehearse else THROUGHPUT)
    backbone = check.pop("backbone")
    return asdict(measure_training(backbone, params.train, devices=1, **check))


def _write_summary(summary: dict[str, Any], out: Path) -> None:
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    (out / "summary.md").write_text(summary_table(summary), encoding="utf-8")


def summary_table(summary: dict[str, Any]) -> str:
    lines = [f"GPU window on {summary['device']} ({summary['keras_backend']}), "
             f"{summary['rows']['train']} train faces, budget {summary['budget_s']:.0f} s"
             + (" (rehearsal)" if summary["rehearsal"] else ""), "",
             _throughput_line(summary["throughput"]), "",
             "| backbone | epochs | images/s | precision | best val (epoch) | test | test flip "
             "| test ten-crop | wall s |", "| --- " * 9 + "|"]
    for name, r in summary["backbones"].items():
        if "skipped" in r:
            lines.append(f"| {name} | skipped ({r['skipped']}) |" + " |" * 7)
            continue
        lines.append(f"| {name} | {r['epochs_run']} ({r['stopped_by'] or 'all'}) | "
                     f"{r['images_per_s']:.0f} | {r['precision']} | "
                     f"{r['best_val_accuracy']:.3f} ({r['best_epoch']}) | "
                     f"{r['test_accuracy']:.3f} | {r['test_accuracy_flip']:.3f} | "
                     f"{r['test_accuracy_ten_crop']:.3f} | {r['wall_s']:.0f} |")
    return "\n".join(lines) + "\n"


def _throughput_line(t: dict[str, Any]) -> str:
    return (f"Throughput: {t['backbone']} trains {t['images_per_s']:,.0f} images/s "
            f"({t['precision']}, batch {t['batch_size']}, {t['input_path']} input, "
            f"{100 * (t['input_wait_share'] or 0):.1f}% of step time waiting for input).")


def prepare(csv: Path, folder: Path, repo: Path) -> str:
    """Pack the arrays and fetch the wheels into `folder`; say what will travel."""
    from ferflow.tools.travel import (
        DEVICE_WHEELS,
        LIMIT_BYTES,
        PACKED_ARRAYS,
        download_wheels,
        locked_versions,
        pack_fer_csv,
        travelling_bytes,
    )

    packed = folder / PACKED_ARRAYS
    rows = pack_fer_csv(csv, packed)
    download_wheels(locked_versions(repo / "requirements.lock", DEVICE_WHEELS), folder / "whl")
    size = travelling_bytes(repo, [folder])
    if size > LIMIT_BYTES:
        raise FerflowError(f"{size / 2**20:.1f} MiB would travel, over the device tool's 64 MiB: "
                           f"remove large untracked files from {repo} or pack less")
    return (f"{packed}: {rows} faces, {packed.stat().st_size / 2**20:.1f} MiB; wheels in "
            f"{folder / 'whl'}; {size / 2**20:.1f} MiB travel with the working tree (limit 64)")
