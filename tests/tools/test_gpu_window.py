"""The GPU window script's CPU rehearsal: the same shell script, `--rehearse`, on synthetic
faces packed as the real data is (never FER2013 rows), under the JAX backend."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest

from ferflow.data.synthetic import draw_faces
from ferflow.tools.travel import PACKED_ARRAYS, pack_arrays

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_rehearsal_trains_evaluates_and_brings_back_few_files(tmp_path: Path) -> None:
    arrays = tmp_path / "arrays"
    arrays.mkdir()
    for i, (split, n) in enumerate((("train", 280), ("val", 70), ("test", 70))):
        y = (np.arange(n) % 7).astype(np.uint8)
        np.savez(arrays / f"{split}.npz", x=draw_faces(y, noise=0.06, seed=i), y=y,
                 row=np.arange(n, dtype=np.int64))
    pack_arrays(arrays, tmp_path / "gpuwin" / PACKED_ARRAYS)
    out = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "DVC_"))}
    env.update(PYTHON=sys.executable, GPUWIN=str(tmp_path / "gpuwin"), OUT=str(out),
               KERAS_BACKEND="jax")
    done = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_window.sh"), "--rehearse",
                           "--backbones", "shallow_cnn,cpu_net"], env=env, capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert sorted(p.name for p in out.iterdir()) == ["details.tar.gz", "log.txt",
                                                     "summary.json", "summary.md"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["keras_backend"] == "jax" and summary["rehearsal"]
    assert list(summary["backbones"]) == ["shallow_cnn", "cpu_net"]
    # The throughput check first: ferflow benchmark train's measurement of vgg19.
    throughput = summary["throughput"]
    assert throughput["backbone"] == "vgg19" and throughput["images_per_s"] > 0
    assert 0 <= throughput["input_wait_share"] < 1 and throughput["precision"] == "float32"
    for result in summary["backbones"].values():
        assert result["epochs_run"] == 2 and result["images_per_s"] > 0
        assert 0 <= result["test_accuracy_flip"] <= 1
    with tarfile.open(out / "details.tar.gz") as tar:
        names = tar.getnames()
    assert "metrics/eval/shallow_cnn.json" in names and "plots/train/cpu_net.png" in names
    assert not [n for n in names if n.endswith(".keras")]
    table = (out / "summary.md").read_text()
    assert "| shallow_cnn | 2 (all) |" in table and "Throughput: vgg19 trains " in table
