"""The exported model files of `ferflow export`, run by ONNX Runtime and the LiteRT interpreter.

Each file holds one graph from (N, 48, 48, 1) float32 pixels 0..255 to (N, 7) probabilities:
the Keras models' softmaxes averaged, as the registered pyfunc computes them, so serving it
needs neither ferflow's model code nor Keras. The batch axis is dynamic in both files.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ferflow import EMOTIONS, IMAGE_SIZE
from ferflow.errors import FerflowError
from ferflow.serving.predict import LoadedModel

ENGINES: tuple[str, ...] = ("keras", "onnx", "litert")
EXPORTED_FILES: dict[str, str] = {"onnx": "model.onnx", "litert": "model.tflite"}
"""Engine → the file name `ferflow export` gives its model (keras runs the .keras files)."""
RUNTIMES: dict[str, str] = {"keras": "Keras", "onnx": "ONNX Runtime", "litert": "LiteRT"}

Batch = Callable[[np.ndarray], np.ndarray]
"""One float32 (n, 48, 48, 1) batch → (n, 7) probabilities."""


def check_engine(engine: str) -> None:
    if engine not in ENGINES:
        raise FerflowError(f"unknown engine {engine!r}: use one of {', '.join(ENGINES)}")


def exported_file(engine: str, path: str | os.PathLike[str]) -> Path:
    """`path` itself, or `path/<EXPORTED_FILES[engine]>` when it is an export folder;
    FerflowError when there is no such file."""
    check_engine(engine)
    if engine == "keras":
        raise ValueError("the keras engine runs .keras files, not exported ones")
    path = Path(path)
    file = path / EXPORTED_FILES[engine] if path.is_dir() else path
    if not file.is_file():
        raise FerflowError(f"{file}: no {RUNTIMES[engine]} model there; write one with "
                           "`ferflow export --out FOLDER` and pass that folder or file")
    return file


def default_threads() -> int:
    """Every core this process may use: what TensorFlow takes by default, so the engines are
    compared on the same cores."""
    return len(os.sched_getaffinity(0))


def _not_readable(file: Path, engine: str, reason: object) -> FerflowError:
    first = str(reason).strip().splitlines()[0] if str(reason).strip() else type(reason).__name__
    return FerflowError(f"{file}: not a readable {RUNTIMES[engine]} model ({first}); the file "
                        "is damaged or of another kind: write it again with `ferflow export`")


def _check_shapes(file: Path, engine: str, inputs: list, outputs: list) -> None:
    """One input (batch, 48, 48, 1) and one output (batch, 7), as ferflow exports them."""
    expected_in = [IMAGE_SIZE, IMAGE_SIZE, 1]
    if (len(inputs) != 1 or len(outputs) != 1 or list(inputs[0])[1:] != expected_in
            or list(outputs[0])[-1:] != [len(EMOTIONS)]):
        raise FerflowError(f"{file}: a {RUNTIMES[engine]} model with inputs {inputs} and "
                           f"outputs {outputs}, not a ferflow export (one input (N, "
                           f"{IMAGE_SIZE}, {IMAGE_SIZE}, 1), one output (N, {len(EMOTIONS)})); "
                           "write it with `ferflow export`")


def onnx_batch(file: Path, threads: int) -> Batch:
    """An ONNX Runtime session on the CPU over `file`."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    try:
        session = onnxruntime.InferenceSession(str(file), options,
                                               providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime's errors derive from Exception alone
        raise _not_readable(file, "onnx", exc) from None
    inputs, outputs = session.get_inputs(), session.get_outputs()
    _check_shapes(file, "onnx", [i.shape for i in inputs], [o.shape for o in outputs])
    name = inputs[0].name
    return lambda x: session.run(None, {name: x})[0]


def litert_batch(file: Path, threads: int) -> Batch:
    """A LiteRT interpreter over `file`, its input resized whenever the batch size changes."""
    from ai_edge_litert.interpreter import Interpreter

    try:
        interpreter = Interpreter(model_path=str(file), num_threads=threads)
        interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        raise _not_readable(file, "litert", exc) from None
    (inp,), (out,) = interpreter.get_input_details(), interpreter.get_output_details()
    _check_shapes(file, "litert", [inp["shape_signature"].tolist()],
                  [out["shape_signature"].tolist()])
    allocated = [int(inp["shape"][0])]

    def run(x: np.ndarray) -> np.ndarray:
        if len(x) != allocated[0]:
            interpreter.resize_tensor_input(inp["index"], list(x.shape))
            interpreter.allocate_tensors()
            allocated[0] = len(x)
        interpreter.set_tensor(inp["index"], x)
        interpreter.invoke()
        return interpreter.get_tensor(out["index"])

    return run


def load_exported(engine: str, path: str | os.PathLike[str], batch_size: int = 256,
                  threads: int | None = None) -> LoadedModel:
    """An exported file (or export folder) as a `LoadedModel` over raw grey faces."""
    from ferflow.models.inference import as_model_input

    file = exported_file(engine, path)
    run = (onnx_batch if engine == "onnx" else litert_batch)(file, threads or default_threads())

    def predict(faces: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(as_model_input(faces))
        if len(x) == 0:
            return np.empty((0, len(EMOTIONS)), np.float32)
        return np.concatenate([run(x[i : i + batch_size])
                               for i in range(0, len(x), batch_size)]).astype(np.float32)

    return LoadedModel(f"ferflow {RUNTIMES[engine]} ({file})", 0, predict)
