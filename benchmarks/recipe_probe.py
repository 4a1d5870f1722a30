"""Benchmark: a short training probe of one backbone's recipe, for comparing recipe changes.

Trains the backbone exactly as train@<backbone> would (same model, augmentation, optimizer,
schedule and loss from the merged params), but on a seeded random share of the train split for
a few epochs and without MLflow or checkpoints. Prints images/s, val accuracy per epoch and the
final val and test accuracy, single view and with flip TTA. Probes of 4 epochs on half the dev
train split take about 5 minutes of a 2-core CPU; their noise is about +-1 point.

    .venv/bin/python benchmarks/recipe_probe.py --config configs/cpu-net-30min.yaml \\
        --epochs 4 --fraction 0.5 --set models.cpu_net.learning_rate=0.008

`--arrays` is a preprocess stage output folder (default data/arrays, e.g. after `dvc exp run`
on the dev CSV). `--set` takes dotted params keys (repeatable) on top of `--config`.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path
from typing import Any

import keras
import numpy as np
import yaml

from ferflow import EMOTIONS
from ferflow.config import merge_sections
from ferflow.data.arrays import load_split
from ferflow.errors import FerflowError
from ferflow.models.inference import tta_probabilities
from ferflow.tools.overrides import params_with, read_override_file
from ferflow.training.loop import build_for_training, compile_phase


def dotted(assignments: list[str]) -> dict[str, Any]:
    """`a.b=1` strings as the nested mapping {"a": {"b": 1}} (values parsed as YAML)."""
    tree: dict[str, Any] = {}
    for item in assignments:
        key, sep, value = item.partition("=")
        if not sep:
            raise FerflowError(f"--set {item!r}: expected key.path=value, e.g. "
                               "models.cpu_net.learning_rate=0.008")
        node = tree
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = yaml.safe_load(value)
    return tree


def accuracy(net: keras.Model, x: np.ndarray, y: np.ndarray, flip: bool = False) -> float:
    """Accuracy as evaluate@ measures it: probabilities, averaged over the flip views."""
    probs = tta_probabilities(net, x, "flip" if flip else "none")
    return float(np.mean(np.argmax(probs, axis=-1) == y))


def main() -> None:
    try:
        probe()
    except FerflowError as exc:
        raise SystemExit(f"error: {exc}") from None


def probe() -> None:
    from ferflow.models.zoo import available_models
    from ferflow.training.recipe import recipe_for

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="cpu_net")
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--config", type=Path, help="partial params file merged on top")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--arrays", type=Path, default=Path("data/arrays"))
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--fraction", type=float, default=0.5, help="share of train used")
    args = parser.parse_args()

    tree = read_override_file(args.config) if args.config else {}
    tree = merge_sections(tree, dotted(args.set))
    tree = merge_sections(tree, {"models": {args.backbone: {"epochs": args.epochs}}})
    params = params_with(tree, args.params, f"{args.config} + --set" if args.config else "--set")
    recipe = recipe_for(params, args.backbone, available_models())
    if recipe.pretrained:
        raise FerflowError(f"models.{args.backbone}.weights is set: the probe trains from "
                           "scratch in one phase; set it to null for the probe")
    train, model = recipe.train, recipe.model

    train_set, val, test = (load_split(args.arrays, s) for s in ("train", "val", "test"))
    keep = np.random.default_rng(train.seed).permutation(len(train_set.y))
    keep = np.sort(keep[: int(len(keep) * args.fraction)])
    x, y = train_set.x[keep], train_set.y[keep]

    built, wrapper = build_for_training(recipe)
    net = built.model
    compile_phase(wrapper, built, train, train.learning_rate, train.epochs,
                  math.ceil(len(y) / train.batch_size))
    per_epoch: list[float] = []
    record = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: per_epoch.append(accuracy(net, val.x, val.y)))
    start = time.perf_counter()
    wrapper.fit(x, keras.utils.to_categorical(y, len(EMOTIONS)), batch_size=train.batch_size,
                epochs=train.epochs, shuffle=True, callbacks=[record], verbose=2)
    elapsed = time.perf_counter() - start

    print(f"{args.backbone}: {len(y)} train images x {train.epochs} epochs in {elapsed:.0f} s "
          f"({len(y) * train.epochs / elapsed:.0f} images/s, incl. per-epoch val)")
    print(f"  lr {train.learning_rate}, optimizer {train.optimizer}, width {model.width}, "
          f"dropout {model.dropout}, batch {train.batch_size}")
    print(f"  val accuracy per epoch: {', '.join(f'{a:.3f}' for a in per_epoch)}")
    print(f"  val {per_epoch[-1]:.3f} (flip {accuracy(net, val.x, val.y, True):.3f})"
          f", test {accuracy(net, test.x, test.y):.3f} "
          f"(flip {accuracy(net, test.x, test.y, True):.3f})")


if __name__ == "__main__":
    main()
