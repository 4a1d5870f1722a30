"""The recipe: per-backbone overrides, optimizers, schedules, class weights, early stopping."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
from mlflow import MlflowClient
from params_data import params_with
from training_data import tiny_params, write_arrays

from ferflow.errors import FerflowError
from ferflow.layout import Layout
from ferflow.models.zoo import available_models
from ferflow.tracking.mlflow_service import TrackingService
from ferflow.training.loop import train_backbone
from ferflow.training.recipe import (
    balanced_class_weights,
    learning_rate_for,
    make_optimizer,
    recipe_for,
)

ZOO = available_models()


def test_backbone_overrides_replace_train_keys_only_for_that_backbone() -> None:
    params = params_with(train={"epochs": 30, "batch_size": 64, "optimizer": "sgd"},
                         models={"cpu_net": {"epochs": 5, "optimizer": "adam", "width": 0.5},
                                 "vgg16": {"width": 1.0}})
    cpu = recipe_for(params, "cpu_net", ZOO)
    assert (cpu.train.epochs, cpu.train.optimizer, cpu.train.batch_size) == (5, "adam", 64)
    assert cpu.model.width == 0.5 and cpu.flat()["train.epochs"] == 5
    other = recipe_for(params, "vgg16", ZOO)
    assert (other.train.epochs, other.train.optimizer, other.model.width) == (30, "sgd", 1.0)


def test_any_train_key_is_overridable_and_nested_sections_merge() -> None:
    params = params_with(
        train={"augment": {"flip": True, "erasing": 0.25, "zoom": 0.1},
               "early_stopping_patience": 15, "class_weights": "none",
               "fine_tune": {"head_epochs": 5}},
        models={"cpu_net": {"augment": {"erasing": 0.0}, "early_stopping_patience": 0,
                            "class_weights": "balanced", "fine_tune": {"lr_factor": 0.5}}})
    cpu = recipe_for(params, "cpu_net", ZOO).train
    assert (cpu.augment.erasing, cpu.augment.flip, cpu.augment.zoom) == (0.0, True, 0.1)
    assert (cpu.early_stopping_patience, cpu.class_weights) == (0, "balanced")
    assert (cpu.fine_tune.lr_factor, cpu.fine_tune.head_epochs) == (0.5, 5)
    other = recipe_for(params, "vgg16", ZOO).train
    assert (other.augment.erasing, other.early_stopping_patience) == (0.25, 15)


def test_unknown_keys_are_reported_by_name() -> None:
    with pytest.raises(FerflowError, match=r"models\.cpu_net\.epoch: unknown key"):
        params_with(models={"cpu_net": {"epoch": 3}})
    with pytest.raises(FerflowError, match=r"models\.cpu_net\.backbones: unknown key"):
        params_with(models={"cpu_net": {"backbones": ["vgg16"]}})
    with pytest.raises(FerflowError, match=r"models\.cpu_net\.augment\.zom: unknown key"):
        params_with(models={"cpu_net": {"augment": {"zom": 0.1}}})
    with pytest.raises(FerflowError, match=r"train\.optimizer"):
        params_with(train={"optimizer": "rmsprop"})


def test_an_override_is_checked_in_the_recipe_it_makes_and_named_by_its_path() -> None:
    """The overrides are partial (`augment: {zoom: 2}`); they are validated merged with
    `train`, and each bad one is named under its models.<backbone> section."""
    with pytest.raises(FerflowError) as bad:
        params_with(data={"seed": "x"},
                    models={"cpu_net": {"augment": {"zoom": 2}, "fine_tune": {"lr_factor": 0}},
                            "vgg16": {"epochs": 0}})
    assert str(bad.value).splitlines()[1:] == [
        "  data.seed: Input should be a valid integer, unable to parse string as an integer "
        "(got 'x')",
        "  models.vgg16.epochs: Input should be greater than or equal to 1 (got 0)",
        "  models.cpu_net.augment.zoom: Input should be less than 1 (got 2)",
        "  models.cpu_net.fine_tune.lr_factor: Input should be greater than 0 (got 0)"]
    # A bad `train` is named once, not again in every backbone's recipe.
    with pytest.raises(FerflowError) as bad_train:
        params_with(train={"epochs": 0})
    assert str(bad_train.value).splitlines()[1:] == [
        "  train.epochs: Input should be greater than or equal to 1 (got 0)"]


def test_an_unknown_backbone_is_named_with_the_zoo_before_any_training_work(
        tmp_path, sqlite_uri) -> None:
    """Params are checked without the zoo (that would import Keras): a name whose models
    section is misspelt alike passes them, and the first train stage stops on it, whichever
    backbone it trains, before writing anything."""
    params = params_with(train={"backbones": ["cpu_net", "cpu_nett"]},
                         models={"cpu_nett": {}, "vgg1": {"width": 0.5}})
    zoo, project = ", ".join(ZOO), tmp_path / "project"
    tracker = TrackingService(sqlite_uri, "tests")
    with pytest.raises(FerflowError) as bad:
        train_backbone("cpu_net", params, layout=Layout(project), tracker=tracker)
    assert str(bad.value) == ("unknown backbone 'cpu_nett' (train.backbones, models.cpu_nett), "
                              f"'vgg1' (models.vgg1): the model zoo has {zoo} (check the "
                              "spelling in params.yaml)")
    assert not project.exists()
    assert MlflowClient(sqlite_uri).search_runs([tracker.experiment_id]) == []
    with pytest.raises(FerflowError, match=rf"unknown backbone 'resnet9': the model zoo has {zoo}"):
        recipe_for(params_with(), "resnet9", ZOO)


def test_pretrained_recipe_has_two_phases_at_a_lower_second_rate() -> None:
    params = params_with(train={"epochs": 10, "learning_rate": 0.01,
                                "fine_tune": {"head_epochs": 3, "lr_factor": 0.1}},
                         models={"vgg16": {"weights": "w.h5"}})
    assert recipe_for(params, "vgg16", ZOO).phases() == [(1, 0, 3, 0.01),
                                                         (2, 3, 10, pytest.approx(0.001))]
    assert recipe_for(params, "cpu_net", ZOO).phases() == [(1, 0, 10, 0.01)]


def test_optimizers_and_cosine_schedule() -> None:
    train = params_with(train={"optimizer": "sgd", "momentum": 0.8, "weight_decay": 1e-3,
                               "schedule": "plateau"}).train
    sgd = make_optimizer(train, 0.1)
    assert isinstance(sgd, keras.optimizers.SGD) and sgd.nesterov and sgd.momentum == 0.8
    assert sgd.weight_decay == pytest.approx(1e-3)
    adam = make_optimizer(train.model_copy(update={"optimizer": "adam"}), 0.1)
    assert isinstance(adam, keras.optimizers.Adam)
    cosine = train.model_copy(update={"schedule": "cosine", "min_learning_rate": 0.001})
    schedule = learning_rate_for(cosine, 0.1, epochs=4, steps_per_epoch=10)
    assert float(schedule(0)) == pytest.approx(0.1)
    assert float(schedule(20)) == pytest.approx(0.0505, rel=1e-3)
    assert float(schedule(40)) == pytest.approx(0.001, rel=1e-3)
    assert learning_rate_for(train, 0.1, 4, 10) == 0.1


def test_balanced_class_weights_equalise_each_class_total() -> None:
    labels = np.array([0] * 6 + [1] * 2 + [3] * 4)
    weights = balanced_class_weights(labels, 7)
    assert weights[0] == pytest.approx(12 / (3 * 6)) and weights[1] == pytest.approx(2.0)
    assert weights[2] == 1.0  # absent class
    totals = {c: weights[c] * int((labels == c).sum()) for c in (0, 1, 3)}
    assert len({round(t, 9) for t in totals.values()}) == 1


def test_early_stopping_and_plateau_follow_validation_accuracy(tmp_path, sqlite_uri) -> None:
    # A learning rate too small to learn: val accuracy soon stops improving (only batch-norm
    # statistics move), so patience 2 stops the run well before its 12 epochs.
    write_arrays(tmp_path / "data" / "arrays")
    params = tiny_params(epochs=12, learning_rate=1e-9, early_stopping_patience=2,
                         class_weights="balanced", schedule="plateau", plateau_patience=1,
                         plateau_factor=0.5, min_learning_rate=0, optimizer="sgd")
    layout = Layout(tmp_path)
    metrics = train_backbone("cpu_net", params, layout=layout,
                             tracker=TrackingService(sqlite_uri, "tests"))
    history = json.loads(layout.history("cpu_net").read_text())
    val, lr = history["val_accuracy"], history["learning_rate"]
    assert metrics["stopped_early"] and metrics["epochs_run"] == len(val) < 12
    assert metrics["best_epoch"] == int(np.argmax(val)) + 1
    assert metrics["epochs_run"] == metrics["best_epoch"] + 2
    # Reduce-on-plateau (patience 1) halves the rate after each epoch that did not improve.
    for e in range(1, len(val)):
        improved = val[e - 1] > max([-1.0, *val[:e - 1]])
        assert lr[e] == pytest.approx(lr[e - 1] if improved else lr[e - 1] * 0.5, rel=1e-3)
