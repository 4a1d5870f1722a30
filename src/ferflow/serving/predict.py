"""`ferflow predict`: classify the faces in image files with the registered model.

A 48x48 image is taken as a face crop and classified directly; any other image goes through
face detection and each face found is classified (`--no-detect` classifies the whole image).
A file that cannot be read is reported and skipped; the others are still processed.
`--explain` draws over each face the occlusion-saliency heatmap of its predicted class
(`ferflow.models.saliency`): the regions whose hiding most lowers that class's evidence.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ferflow import EMOTIONS, IMAGE_SIZE
from ferflow.errors import FerflowError
from ferflow.serving.faces import DEFAULT_DETECTOR, Box, check_detector, crop_face, detect_faces
from ferflow.serving.images import read_image, resize_face

Predictor = Callable[[np.ndarray], np.ndarray]
"""(N, 48, 48) grey faces 0..255 → (N, 7) probabilities."""

KERAS_SUFFIXES = (".keras", ".h5", ".hdf5")


@dataclass(frozen=True)
class LoadedModel:
    """A model to classify faces with, whatever it was loaded from."""

    label: str
    params: int
    predictor: Predictor
    models: tuple[Any, ...] = ()
    """The Keras models behind `predictor` (their softmaxes averaged); empty for an exported
    ONNX or LiteRT file. `ferflow export` converts these."""

    def __call__(self, faces: np.ndarray) -> np.ndarray:
        return self.predictor(faces)


def load_predictor(model: str, batch_size: int = 256, engine: str = "keras") -> LoadedModel:
    """A `.keras` file, or the MLflow URI (`models:/name@alias`, `runs:/...`, a path) of a
    registered ferflow model. `ferflow predict` and `ferflow benchmark infer` both load here.

    With engine `onnx` or `litert`, `model` is a file or folder that `ferflow export` wrote,
    or a registry URI whose version has been exported (its file is downloaded)."""
    if engine != "keras":
        return _load_export(model, batch_size, engine)
    if model.endswith(KERAS_SUFFIXES):
        from ferflow.models.inference import load_classifier, predict_probabilities

        keras_model = load_classifier(model)
        return LoadedModel(f"ferflow ({Path(model).parent.name or model})",
                           int(keras_model.count_params()),
                           lambda faces: predict_probabilities(keras_model, faces, batch_size),
                           (keras_model,))
    from ferflow.serving.pyfunc import unwrap
    from ferflow.tracking.model_registry import load_pyfunc

    classifier = unwrap(load_pyfunc(model))
    names = "+".join(m.name for m in classifier.models)
    return LoadedModel(f"ferflow {model} ({names})",
                       sum(int(m.count_params()) for m in classifier.models),
                       lambda faces: classifier.probabilities(faces, batch_size),
                       tuple(classifier.models))


def _load_export(model: str, batch_size: int, engine: str) -> LoadedModel:
    import tempfile

    from ferflow.serving.engines import EXPORTED_FILES, check_engine, load_exported

    check_engine(engine)
    if not model.startswith("models:/"):
        return load_exported(engine, model, batch_size)
    from ferflow.tracking.exports import download_export

    # Both runtimes have read (or mapped) the file once loaded: the download can go.
    with tempfile.TemporaryDirectory(prefix="ferflow-export-") as tmp:
        loaded = load_exported(engine, download_export(model, engine, tmp), batch_size)
    return LoadedModel(f"ferflow {model} ({EXPORTED_FILES[engine]})", loaded.params,
                       loaded.predictor)


@dataclass(frozen=True)
class Face:
    box: Box
    detected: bool
    """False when the whole image was classified as one face."""
    probabilities: np.ndarray
    crop: np.ndarray | None = field(default=None, repr=False, compare=False)
    """The (48, 48) grey face the model saw (what `--explain` explains)."""

    def top(self, k: int = 3) -> list[tuple[str, float]]:
        order = np.argsort(-self.probabilities, kind="stable")[:k]
        return [(EMOTIONS[i], float(self.probabilities[i])) for i in order]


@dataclass
class ImageResult:
    path: Path
    faces: list[Face] = field(default_factory=list)
    error: str | None = None


def classify_image(grey: np.ndarray, predictor: Predictor, detect: bool = True,
                   detector: str = DEFAULT_DETECTOR) -> list[Face]:
    """Faces of one grey image: the whole image if it is a 48x48 crop (or `detect` is off),
    otherwise each detected face."""
    height, width = grey.shape
    if grey.shape == (IMAGE_SIZE, IMAGE_SIZE) or not detect:
        boxes, crops, detected = [Box(0, 0, width, height)], [resize_face(grey)], False
    else:
        boxes = detect_faces(grey, detector)
        crops, detected = [crop_face(grey, b) for b in boxes], True
    if not crops:
        return []
    probabilities = predictor(np.stack(crops))
    return [Face(b, detected, p, c)
            for b, p, c in zip(boxes, probabilities, crops, strict=True)]


def predict_files(paths: Sequence[Path], predictor: Predictor, detect: bool = True,
                  detector: str = DEFAULT_DETECTOR) -> list[ImageResult]:
    """Classify every file; a file that fails gets `error` set and the rest go on."""
    results = []
    for path in paths:
        try:
            faces = classify_image(read_image(path), predictor, detect, detector)
            results.append(ImageResult(path, faces))
        except FerflowError as exc:
            results.append(ImageResult(path, error=str(exc)))
    return results


def _box_text(face: Face) -> str:
    b = face.box
    return f"{b.x},{b.y} {b.w}x{b.h}" if face.detected else f"whole {b.w}x{b.h}"


def format_table(results: Sequence[ImageResult]) -> str:
    """A plain-text table: file, face box, emotion, probability, top 3."""
    rows = [("file", "face", "emotion", "p", "top 3")]
    for r in results:
        if r.error:
            continue
        if not r.faces:
            rows.append((str(r.path), "-", "no face found", "", ""))
        for face in r.faces:
            (emotion, p), *_ = top = face.top(3)
            rows.append((str(r.path), _box_text(face), emotion, f"{p:.3f}",
                         ", ".join(f"{name} {q:.2f}" for name, q in top)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True))
                     .rstrip() for row in rows)


def as_json(results: Sequence[ImageResult]) -> list[dict[str, Any]]:
    return [
        {
            "file": str(r.path),
            "error": r.error,
            "faces": [
                {
                    "box": face.box.as_list(),
                    "detected": face.detected,
                    "emotion": face.top(1)[0][0],
                    "probability": face.top(1)[0][1],
                    "probabilities": dict(zip(EMOTIONS, map(float, face.probabilities),
                                              strict=True)),
                }
                for face in r.faces
            ],
        }
        for r in results
    ]


def annotation_targets(inputs: Sequence[Path], out: Path, kind: str = "annotated"
                       ) -> dict[Path, Path]:
    """Where `--annotate OUT` (`kind` annotated) or `--explain OUT` (explained) writes each
    input's picture.

    One input and OUT with an image suffix (.png, .jpg): OUT itself. Otherwise OUT is a folder
    (created) holding `<input stem>.<kind>.png` per input (`-2`, `-3`... when stems repeat).
    """
    if len(inputs) == 1 and out.suffix.lower() in (".png", ".jpg", ".jpeg") and not out.is_dir():
        return {inputs[0]: out}
    targets: dict[Path, Path] = {}
    used: set[str] = set()
    for path in inputs:
        name, n = f"{path.stem}.{kind}.png", 1
        while name in used:
            n += 1
            name = f"{path.stem}-{n}.{kind}.png"
        used.add(name)
        targets[path] = out / name
    return targets


def explain_faces(faces: Sequence[Face], predictor: Predictor) -> list[np.ndarray]:
    """The occlusion heatmap (48, 48) of each face's predicted class under `predictor` (any
    engine, an ensemble too: only its probabilities are needed)."""
    from ferflow.models.saliency import log_probabilities, occlusion_saliency

    if not faces:
        return []
    crops = np.stack([face.crop for face in faces])
    classes = np.array([int(np.argmax(face.probabilities)) for face in faces])
    return list(occlusion_saliency(log_probabilities(predictor), crops, classes))


def draw_annotations(path: Path, faces: Sequence[Face], target: Path,
                     heat: Sequence[np.ndarray] | None = None) -> None:
    """The image with a box and `emotion p` label per face (small images are enlarged); with
    `heat` (one map per face), each face's heatmap blended into its box."""
    from ferflow.atomic import atomic_path
    from ferflow.models.saliency import overlay

    with Image.open(path) as original:
        image = original.convert("RGB")
    scale = max(1, -(-256 // min(image.size)))  # at least 256 px on the short side
    if scale > 1:
        image = image.resize((image.width * scale, image.height * scale),
                             Image.Resampling.NEAREST)
    for face, face_heat in zip(faces, heat or (), strict=False):
        b = face.box
        box = (b.x * scale, b.y * scale, (b.x + b.w) * scale, (b.y + b.h) * scale)
        grey = np.asarray(image.crop(box).convert("L"))
        image.paste(Image.fromarray(overlay(grey, face_heat)), box[:2])
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=max(12, image.height // 30))
    for face in faces:
        b = face.box
        box = (b.x * scale, b.y * scale, (b.x + b.w) * scale - 1, (b.y + b.h) * scale - 1)
        emotion, p = face.top(1)[0]
        draw.rectangle(box, outline=(255, 40, 40), width=max(2, image.height // 200))
        label = f"{emotion} {p:.2f}"
        text_w, text_h = draw.textbbox((0, 0), label, font=font)[2:]
        # The label sits above the box, else below it, else inside its top edge.
        if box[1] >= text_h + 4:
            y = box[1] - text_h - 4
        elif box[3] + text_h + 5 <= image.height:
            y = box[3] + 1
        else:
            y = box[1]
        draw.rectangle((box[0], y, box[0] + text_w + 4, y + text_h + 4), fill=(255, 40, 40))
        draw.text((box[0] + 2, y + 2), label, fill="white", font=font)
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(target) as tmp:
        image.save(tmp, format="PNG" if target.suffix.lower() == ".png" else "JPEG")


def run_predict(
    images: Sequence[Path],
    model: str,
    *,
    as_json_output: bool = False,
    annotate: Path | None = None,
    explain: Path | None = None,
    detect: bool = True,
    engine: str = "keras",
    detector: str = DEFAULT_DETECTOR,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """The `ferflow predict` command. Returns 0, or 1 if any file could not be processed."""
    out, err = out or sys.stdout, err or sys.stderr
    check_detector(detector)  # before the model loads: a typo fails at once
    predictor = load_predictor(model, engine=engine)
    results = predict_files(images, predictor, detect, detector)
    for r in results:
        if r.error:
            print(f"ferflow: error: {r.error}", file=err)
    if annotate is not None:
        targets = annotation_targets(images, annotate)
        for r in results:
            if r.error is None:
                draw_annotations(r.path, r.faces, targets[r.path])
    if explain is not None:
        targets = annotation_targets(images, explain, "explained")
        for r in results:
            if r.error is None:
                draw_annotations(r.path, r.faces, targets[r.path],
                                 explain_faces(r.faces, predictor))
    if as_json_output:
        print(json.dumps(as_json(results), indent=2), file=out)
    else:
        print(format_table(results), file=out)
    return 1 if any(r.error for r in results) else 0


def default_model_uri(params_path: str | os.PathLike[str]) -> str:
    """`models:/<register.model_name>@champion`, the name read from params when it exists."""
    from ferflow.config import RegisterParams, load_params
    from ferflow.tracking.model_registry import CHAMPION, model_uri

    name = (load_params(params_path).registry.model_name if Path(params_path).is_file()
            else RegisterParams().model_name)
    return model_uri(name, alias=CHAMPION)
