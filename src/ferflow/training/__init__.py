"""Training: the recipe (optimizer, schedule, class weights), augmentation layers, resumable
fit loop (`ferflow.training.loop.train_backbone`) behind the train@<backbone> stage, the
training benchmark, and params override files for experiments. The loop's names load lazily,
so `python -m ferflow.training.overrides` starts without Keras."""

from typing import Any

__all__ = ["TrainPaths", "data_sha256", "describe_run", "train_backbone"]


def __getattr__(name: str) -> Any:
    # The loop's names on first use, so that importing the package stays free of Keras.
    if name in __all__:
        from ferflow.training import loop

        return getattr(loop, name)
    raise AttributeError(f"module 'ferflow.training' has no attribute {name!r}")
