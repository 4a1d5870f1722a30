"""`ferflow export`: a ferflow model as ONNX and LiteRT files, checked against Keras.

The Keras models behind a `LoadedModel` (one file, or an ensemble's members) become one graph
`faces → mean of softmax(scores)`, whatever their layers (a calibration layer on top included),
which Keras' own exporters write as `model.onnx` (through tf2onnx) and `model.tflite` (through
TensorFlow's LiteRT converter). Each file is then run by its runtime on the validation split:
its accuracy must be within `ACCURACY_TOLERANCE` of the Keras model's, else nothing is written.
The files and `parity.json` appear in the output folder together, or not at all.
"""

from __future__ import annotations

import contextlib
import io
import os
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ferflow import IMAGE_SIZE
from ferflow.atomic import atomic_path, write_json
from ferflow.errors import FerflowError
from ferflow.evaluation.metrics import accuracy
from ferflow.serving.engines import EXPORTED_FILES, RUNTIMES, load_exported
from ferflow.serving.predict import LoadedModel

EXPORT_ENGINES: tuple[str, ...] = tuple(EXPORTED_FILES)
PARITY_JSON = "parity.json"
ACCURACY_TOLERANCE = 0.002
"""How far an exported file's validation accuracy may be from the Keras model's: 0.2 points."""


@dataclass(frozen=True)
class EngineParity:
    """One exported file against the Keras model, on the same faces."""

    engine: str
    file: str
    bytes: int
    accuracy: float
    accuracy_delta: float
    """Exported minus Keras accuracy."""
    max_abs_probability_diff: float
    """The largest |p_exported - p_keras| over every face and class."""
    agreement: float
    """Share of faces whose top class is the same."""


@dataclass(frozen=True)
class ExportReport:
    source: str
    split: str
    faces: int
    keras_accuracy: float
    tolerance: float
    engines: list[EngineParity]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def failures(self) -> list[EngineParity]:
        return [e for e in self.engines if abs(e.accuracy_delta) > self.tolerance]

    def table(self) -> str:
        rows = [("engine", "file", "accuracy", "vs keras", "max |dp|", "same top class")]
        rows.append(("Keras", "", f"{self.keras_accuracy:.4f}", "", "", ""))
        for e in self.engines:
            rows.append((RUNTIMES[e.engine], f"{e.file} ({e.bytes / 1e6:.2f} MB)",
                         f"{e.accuracy:.4f}", f"{100 * e.accuracy_delta:+.2f} pts",
                         f"{e.max_abs_probability_diff:.2e}", f"{100 * e.agreement:.2f}%"))
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines = [f"{self.source}: parity on the {self.split} split ({self.faces} faces), "
                 f"tolerance {100 * self.tolerance:.1f} accuracy points"]
        lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
                  for r in rows]
        return "\n".join(lines)


def in_float32(model: Any) -> Any:
    """`model` itself when every layer computes in float32, else a copy that does, with the
    same weights: a model trained under mixed precision (bfloat16 or float16 compute) has no
    ONNX form (onnxruntime rejects the mixed graph) nor a plain LiteRT one."""
    import keras

    if all(layer.dtype_policy.name == "float32" for layer in _all_layers(model)):
        return model

    def rebuild(layer: Any) -> Any:
        return layer.__class__.from_config({**layer.get_config(), "dtype": "float32"})

    copy = keras.models.clone_model(model, clone_function=rebuild, recursive=True)
    copy.set_weights(model.get_weights())
    return copy


def _all_layers(model: Any) -> list[Any]:
    return [sub for layer in model.layers
            for sub in ([layer, *_all_layers(layer)] if hasattr(layer, "layers") else [layer])]


def probability_graph(models: Sequence[Any]) -> Any:
    """One Keras model from (N, 48, 48, 1) pixels to probabilities: the softmax of each
    member's output, averaged over the members (what `EmotionClassifier.probabilities` and
    `predict_probabilities` compute), called once so that it can be exported."""
    import keras

    if not models:
        raise FerflowError("nothing to export: the model wraps no Keras model")
    faces = keras.Input((IMAGE_SIZE, IMAGE_SIZE, 1), name="faces", dtype="float32")
    members = [keras.layers.Softmax(name=f"probabilities_{i}")(in_float32(m)(faces))
               for i, m in enumerate(models)]
    probabilities = (members[0] if len(members) == 1
                     else keras.layers.Average(name="probabilities")(members))
    graph = keras.Model(faces, probabilities, name="ferflow_export")
    graph.predict_on_batch(np.zeros((1, IMAGE_SIZE, IMAGE_SIZE, 1), np.float32))
    return graph


def write_exports(graph: Any, folder: Path, engines: Sequence[str] = EXPORT_ENGINES) -> None:
    """Write `graph` into `folder` as each engine's file (`EXPORTED_FILES`); the engine names
    are Keras' export formats."""
    for engine in engines:
        target = folder / EXPORTED_FILES[engine]
        # The converters print their own progress and summaries, and Keras' numpy-2 patch of
        # tf2onnx warns about np.object; a failure is raised anyway.
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=FutureWarning, module="keras")
            try:
                graph.export(str(target), format=engine, verbose=False)
            except Exception as exc:  # the converters raise whatever their backends raise
                raise FerflowError(f"{RUNTIMES[engine]} export failed: {exc}".splitlines()[0])\
                    from exc


def compare(engine: str, file: Path, reference: np.ndarray, candidate: np.ndarray,
            labels: np.ndarray) -> EngineParity:
    """`candidate` probabilities of `engine` against the Keras `reference` on `labels`."""
    ref_accuracy = accuracy(labels, reference)
    cand_accuracy = accuracy(labels, candidate)
    return EngineParity(
        engine=engine,
        file=file.name,
        bytes=file.stat().st_size,
        accuracy=cand_accuracy,
        accuracy_delta=cand_accuracy - ref_accuracy,
        max_abs_probability_diff=float(np.max(np.abs(candidate - reference))),
        agreement=float(np.mean(candidate.argmax(1) == reference.argmax(1))),
    )


def check_parity(report: ExportReport) -> None:
    """FerflowError naming each engine whose accuracy is off by more than the tolerance."""
    failed = report.failures()
    if failed:
        details = "; ".join(
            f"{RUNTIMES[e.engine]} {e.accuracy:.4f} vs Keras {report.keras_accuracy:.4f} "
            f"({100 * e.accuracy_delta:+.2f} points, max |dp| {e.max_abs_probability_diff:.3g})"
            for e in failed)
        raise FerflowError(
            f"{report.source}: exported model disagrees with Keras on the {report.split} split "
            f"beyond {100 * report.tolerance:.1f} accuracy points: {details}; nothing was "
            "written. Check that every layer of the model converts (see the converter's "
            "warnings above) or export with --engines to leave that runtime out")


def _check_replaceable(out: Path) -> None:
    """The output folder is replaced whole: refuse one that holds anything but an export."""
    ours = {*EXPORTED_FILES.values(), PARITY_JSON}
    if out.exists() and (not out.is_dir() or any(p.name not in ours for p in out.iterdir())):
        raise FerflowError(f"{out}: exists and holds more than an export; `ferflow export` "
                           "replaces its --out folder whole, so pass a new or an export folder")


def export_model(
    source: LoadedModel,
    out: str | os.PathLike[str],
    faces: np.ndarray,
    labels: np.ndarray,
    *,
    name: str,
    split: str = "val",
    engines: Sequence[str] = EXPORT_ENGINES,
    tolerance: float = ACCURACY_TOLERANCE,
    batch_size: int = 256,
) -> ExportReport:
    """Export `source` into folder `out` (replaced whole) and check each file against
    `source.predictor` on `faces`; FerflowError, with `out` untouched, when parity fails."""
    if not source.models:
        raise FerflowError(f"{name}: not a Keras model; export a .keras file or a registered "
                           "ferflow model")
    _check_replaceable(Path(out))
    reference = source.predictor(faces)
    graph = probability_graph(source.models)
    with atomic_path(out, directory=True) as tmp:
        write_exports(graph, tmp, engines)
        parities = []
        for engine in engines:
            file = tmp / EXPORTED_FILES[engine]
            candidate = load_exported(engine, file, batch_size).predictor(faces)
            parities.append(compare(engine, file, reference, candidate, labels))
        report = ExportReport(name, split, len(labels), accuracy(labels, reference), tolerance,
                              parities)
        check_parity(report)
        write_json(tmp / PARITY_JSON, report.as_dict())
    return report


def default_out(label: str) -> Path:
    """`.ferflow/export/<label>`: git-ignored, beside the pipeline's other local state."""
    return Path(".ferflow") / "export" / "".join(c if c.isalnum() or c in "-_." else "-"
                                                 for c in label)


def version_tags(report: ExportReport) -> dict[str, str]:
    """What a registered version is tagged with (`export.` is prefixed): each engine's
    artifact path and parity numbers, and the parity file."""
    from ferflow.tracking.exports import export_artifact

    tags = {"parity": export_artifact(PARITY_JSON),
            "keras_accuracy": f"{report.keras_accuracy:.6f}",
            "split": f"{report.split} ({report.faces} faces)"}
    for e in report.engines:
        tags[e.engine] = export_artifact(e.file)
        tags[f"{e.engine}.accuracy_delta"] = f"{e.accuracy_delta:+.6f}"
        tags[f"{e.engine}.max_abs_probability_diff"] = f"{e.max_abs_probability_diff:.3g}"
    return tags


def run_export(
    model: str | None,
    run_id: str | None,
    out: Path | None,
    arrays_dir: Path,
    params_path: Path,
    engines: Sequence[str] = EXPORT_ENGINES,
) -> str:
    """The `ferflow export` command: export the champion (default), `model` (a .keras file or
    an MLflow URI) or run `run_id`'s model; log the files into the registered version's source
    run (or the run itself). Returns what to print."""
    from ferflow.data.arrays import load_split
    from ferflow.serving.predict import KERAS_SUFFIXES, default_model_uri, load_predictor
    from ferflow.serving.pyfunc import LOGGED_MODEL_NAME
    from ferflow.tracking.exports import log_export, resolve_version, version_of_run

    unknown = [e for e in engines if e not in EXPORT_ENGINES]
    if unknown or not engines:
        raise FerflowError(f"--engines {','.join(engines)}: export to one or more of "
                           f"{', '.join(EXPORT_ENGINES)}")
    if run_id is not None:
        ref = version_of_run(run_id)
        uri = ref.uri if ref else f"runs:/{run_id}/{LOGGED_MODEL_NAME}"
        log_run: str | None = run_id
    else:
        uri = model or default_model_uri(params_path)
        ref = None if uri.endswith(KERAS_SUFFIXES) else resolve_version(uri)
        if ref is not None:
            uri = ref.uri  # the version itself: an alias moved meanwhile changes nothing
        log_run = ref.run_id if ref else (uri.split("/")[1] if uri.startswith("runs:/")
                                          else None)
    label = (f"{ref.name}-v{ref.version}" if ref else
             "-".join(Path(uri).with_suffix("").parts[-2:]) if uri.endswith(KERAS_SUFFIXES)
             else f"run-{log_run}")
    val = load_split(arrays_dir, "val")
    source = load_predictor(uri)
    target = out or default_out(label)
    report = export_model(source, target, val.x, val.y, name=uri, engines=engines)
    lines = [report.table(), f"wrote {', '.join(EXPORTED_FILES[e] for e in engines)} and "
             f"{PARITY_JSON} to {target}"]
    if log_run is not None:
        where = log_export(target, log_run, ref, version_tags(report))
        lines.append(f"logged to {where}" + (f" and tagged version {ref.version} of {ref.name}"
                                             if ref else ""))
    return "\n".join(lines)
