"""`train.time_budget_s` as a plan: the warm-up's measured pace buys whole epochs (or, below
one, steps) and the cosine schedule runs over exactly those; the plan is recorded in MLflow and
kept by a resumed training (tests/training/test_resume.py resumes a budgeted run)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mlflow import MlflowClient
from training_data import tiny_params, write_arrays

from ferflow.layout import Layout
from ferflow.models.zoo import available_models
from ferflow.tracking.mlflow_service import TrackingService
from ferflow.training import pace
from ferflow.training.budget import SAFETY, plan_budget, plans_budget
from ferflow.training.loop import train_backbone
from ferflow.training.pace import StepClock
from ferflow.training.recipe import recipe_for


def test_the_budget_buys_the_whole_epochs_that_fit_after_the_warm_up() -> None:
    # 0.97 * 100 - 3 = 94 s left; an epoch is 50 steps of 0.1 s and a 1 s validation: 15.
    plan = plan_budget(100, step_s=0.1, val_s=1.0, warmup_s=3.0, steps_per_epoch=50,
                       max_epochs=40)
    assert (plan.epochs, plan.steps_per_epoch) == (15, 50)
    assert SAFETY == 0.97
    # train.epochs stays the cap.
    assert plan_budget(100, step_s=0.1, val_s=1.0, warmup_s=3.0, steps_per_epoch=50,
                       max_epochs=10).epochs == 10


def test_a_budget_below_one_epoch_buys_the_steps_that_fit() -> None:
    # 0.97 * 10 - 2 = 7.7 s left, less the 1 s validation: 13 steps of 0.5 s, of 100.
    plan = plan_budget(10, step_s=0.5, val_s=1.0, warmup_s=2.0, steps_per_epoch=100,
                       max_epochs=40)
    assert (plan.epochs, plan.steps_per_epoch) == (1, 13)
    # A budget the warm-up alone used up still trains one step.
    plan = plan_budget(1, step_s=0.5, val_s=1.0, warmup_s=2.0, steps_per_epoch=100,
                       max_epochs=40)
    assert (plan.epochs, plan.steps_per_epoch) == (1, 1)
    assert plan.params() == {"budget.epochs": 1, "budget.steps_per_epoch": 1,
                             "budget.step_s": 0.5, "budget.val_s": 1.0, "budget.warmup_s": 2.0}


@pytest.mark.parametrize(("train", "models", "planned"), [
    ({"time_budget_s": 60, "schedule": "cosine"}, {}, True),
    ({"time_budget_s": 0, "schedule": "cosine"}, {}, False),
    # A plateau schedule keeps the budget as a hard stop only.
    ({"time_budget_s": 60, "schedule": "plateau"}, {}, False),
    # So does a fine-tuning in two phases (2 head epochs, then 3).
    ({"time_budget_s": 60, "schedule": "cosine", "epochs": 5}, {"weights": "/w.weights.h5"},
     False),
])
def test_only_a_cosine_schedule_in_one_phase_is_planned(train: dict, models: dict,
                                                        planned: bool) -> None:
    params = tiny_params(**train, models={"cpu_net": {"width": 0.25, **models}})
    assert plans_budget(recipe_for(params, "cpu_net", available_models())) is planned


def test_step_clock_times_the_steps_after_warm_up_and_the_gaps_between_them(
        monkeypatch: pytest.MonkeyPatch) -> None:
    times = iter([0.0, 1.0, 1.5, 2.5, 3.0, 4.0])  # begin/end of steps 0, 1 and 2
    monkeypatch.setattr(pace.time, "perf_counter", lambda: next(times))
    clock = StepClock(warmup=1)
    for step in range(3):
        clock.on_train_batch_begin(step)
        clock.on_train_batch_end(step, {"loss": 0.5})
    # Step 0 is warm-up; steps 1 and 2 run from 1.5 to 4.0 with 0.5 s between them.
    assert (clock.start, clock.end, clock.waited) == (1.5, 4.0, 0.5)


@pytest.mark.slow
def test_a_budget_on_one_backbone_buys_it_part_of_an_epoch_and_leaves_the_other_alone(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_arrays(tmp_path / "data" / "arrays", rows=640)  # 40 batches of 16
    (tmp_path / "data" / "raw").mkdir()
    (tmp_path / "data" / "raw" / "source.json").write_text(json.dumps({"sha256": "ab" * 32}))
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    params = tiny_params(schedule="cosine", epochs=3, time_budget_s=0, models={
        # Far less than a 40-step epoch, and less than the warm-up itself takes.
        "cpu_net": {"width": 0.25, "time_budget_s": 0.2},
        "shallow_cnn": {"width": 0.125, "epochs": 3}})
    layout = Layout(tmp_path)
    budgeted = train_backbone("cpu_net", params, layout=layout,
                              tracker=TrackingService(uri, "tests"))
    free = train_backbone("shallow_cnn", params, layout=layout,
                          tracker=TrackingService(uri, "tests"))
    assert "0.2 s (train.time_budget_s) buy 1 epoch of 1 step" in capsys.readouterr().out

    assert budgeted["epochs_run"] == 1 and budgeted["images_per_s"] > 0
    assert free["epochs_run"] == 3
    client = MlflowClient(uri)
    runs = {r.data.tags["backbone"]: r for r in client.search_runs(
        [client.get_experiment_by_name("tests").experiment_id])}
    cpu_params = runs["cpu_net"].data.params
    assert cpu_params["train.time_budget_s"] == "0.2"
    assert (cpu_params["budget.epochs"], cpu_params["budget.steps_per_epoch"]) == ("1", "1")
    assert float(cpu_params["budget.step_s"]) > 0 and float(cpu_params["budget.warmup_s"]) > 0
    assert not [k for k in runs["shallow_cnn"].data.params if k.startswith("budget.")]
    # The cosine schedule ran over the one bought step: its rate is at the floor after it.
    history = json.loads(layout.history("cpu_net").read_text())
    assert history["epoch"] == [1]
    assert history["learning_rate"][0] == pytest.approx(params.train.min_learning_rate,
                                                       rel=1e-3)
