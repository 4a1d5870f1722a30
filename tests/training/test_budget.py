"""`train.time_budget_s` as a plan: the warm-up's measured pace buys whole epochs (or, below
one, steps) and the cosine schedule runs over exactly those; after each epoch the plan follows
the pace the epochs really had; the plan is recorded in MLflow and kept by a resumed training
(tests/training/test_resume.py resumes a budgeted run)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from mlflow import MlflowClient
from training_data import tiny_params, write_arrays

from ferflow.layout import Layout
from ferflow.models.zoo import available_models
from ferflow.tracking.mlflow_service import TrackingService
from ferflow.training import loop, pace
from ferflow.training.budget import (
    SAFETY,
    BudgetPlan,
    cosine_rate,
    plan_budget,
    plans_budget,
    replan,
)
from ferflow.training.loop import train_backbone
from ferflow.training.pace import StepClock
from ferflow.training.recipe import learning_rate_for, recipe_for


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


PLAN = BudgetPlan(epochs=10, steps_per_epoch=50, step_s=0.1, val_s=1.0, warmup_s=3.0,
                  max_epochs=40)
"""Bought by a 100 s budget at 6 s an epoch would be 15; here the warm-up misjudged: 10."""


def test_epochs_faster_than_planned_buy_more_and_the_cosine_goes_on_from_where_it_is() -> None:
    # 2 epochs took 8 s: 3 + 8 = 11 s used; 4 s an epoch fits 21 more in 0.97 * 100 s.
    moved = replan(PLAN, 100, epochs_done=2, train_time_s=8.0)
    assert moved is not None
    assert (moved.epochs, moved.anchor_epoch, moved.replans) == (23, 2, 1)
    assert moved.anchor_progress == pytest.approx(0.2)  # 2 of the 10 planned epochs
    assert moved.progress(2) == pytest.approx(0.2) and moved.progress(23) == 1.0
    assert moved.progress(12) == pytest.approx(0.2 + 0.8 * 10 / 21)
    # train.epochs stays the cap.
    capped = replan(replace(PLAN, max_epochs=12), 100, epochs_done=2, train_time_s=8.0)
    assert capped is not None and capped.epochs == 12
    # The plan survives a checkpoint (TrainState.budget holds its fields).
    assert BudgetPlan(**json.loads(json.dumps(moved.__dict__))) == moved


def test_slower_epochs_buy_fewer_only_when_the_plan_would_overrun_the_whole_budget() -> None:
    # 2 epochs of 9.5 s: 3 + 19 + 8 * 9.5 = 98 s for all 10 planned, inside 100 s: kept
    # (one more would need 107.5 s > 97).
    assert replan(PLAN, 100, epochs_done=2, train_time_s=19.0) is None
    # 2 epochs of 11 s: 10 would take 3 + 110 = 113 s; 8 take 91 s.
    slower = replan(PLAN, 100, epochs_done=2, train_time_s=22.0)
    assert slower is not None and slower.epochs == 8
    # 2 epochs of 60 s: not one more fits; the plan of the 2 done means stop now.
    spent = replan(PLAN, 100, epochs_done=2, train_time_s=120.0)
    assert spent is not None and spent.epochs == 2


def test_the_first_epoch_which_compiles_does_not_set_the_pace() -> None:
    # One epoch says nothing yet, however slow it was.
    assert replan(PLAN, 100, epochs_done=1, train_time_s=30.0) is None
    # A 20 s first epoch (compiling), then 5 s epochs: 3 + 25 + 8 * 5 = 68 s for all 10; at
    # 5 s an epoch 15 fit in 97 s. The mean of 12.5 s would have cut the plan to 7.
    moved = replan(replace(PLAN, first_epoch_s=20.0), 100, epochs_done=2, train_time_s=25.0)
    assert moved is not None and moved.epochs == 15
    assert replan(PLAN, 100, epochs_done=2, train_time_s=25.0).epochs == 7  # type: ignore[union-attr]


def test_a_finished_or_sub_epoch_plan_is_never_moved() -> None:
    # The schedule is at its floor after its last epoch, however much time is left.
    assert replan(PLAN, 1000, epochs_done=10, train_time_s=10.0) is None
    steps = BudgetPlan(epochs=1, steps_per_epoch=13, step_s=0.5, val_s=1.0, warmup_s=2.0,
                       max_epochs=40)
    assert replan(steps, 10, epochs_done=2, train_time_s=0.1) is None


def test_the_moved_cosine_is_continuous_and_reaches_the_floor_at_the_new_end() -> None:
    train = tiny_params(schedule="cosine", min_learning_rate=1e-4).train
    base, floor, steps = 0.01, 1e-4 / 0.01, 50
    planned = learning_rate_for(train, base, 10, steps)
    moved = learning_rate_for(train, base, 23, steps, anchor=(2, 0.2))

    def rate(schedule: object, step: int) -> float:
        return float(schedule(step))  # type: ignore[operator]

    # Where the horizon moved, both schedules give the rate reached so far...
    assert rate(moved, 100) == pytest.approx(rate(planned, 100), rel=1e-5)
    assert rate(moved, 100) == pytest.approx(cosine_rate(base, floor, 0.2), rel=1e-5)
    # ...then the new one decays more slowly, to the floor at the end of epoch 23.
    assert rate(moved, 300) > rate(planned, 300)
    assert rate(moved, 23 * steps) == pytest.approx(1e-4, rel=1e-4)
    values = [rate(moved, s) for s in range(100, 23 * steps + 1, 25)]
    assert all(b <= a for a, b in zip(values, values[1:], strict=False))


class _Clock:
    """`time` for `training.loop` whose monotonic clock says: the warm-up took 4 s (2 s of
    it a validation pass), and then every epoch 1 s, whatever the machine does."""

    def __init__(self) -> None:
        self.now, self.calls = 0.0, 0

    def monotonic(self) -> float:
        value = self.now
        self.calls += 1
        self.now += 2.0 if self.calls <= 3 else 1.0
        return value


@pytest.mark.slow
def test_a_budgeted_training_follows_the_pace_its_epochs_really_have(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    write_arrays(tmp_path / "data" / "arrays", rows=64)  # 4 batches of 16
    (tmp_path / "data" / "raw").mkdir()
    (tmp_path / "data" / "raw" / "source.json").write_text(json.dumps({"sha256": "ab" * 32}))
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setattr(loop, "time", _Clock())
    params = tiny_params(schedule="cosine", epochs=20, time_budget_s=12,
                         min_learning_rate=1e-4, learning_rate=0.003,
                         models={"cpu_net": {"width": 0.125}})
    layout = Layout(tmp_path)
    metrics = train_backbone("cpu_net", params, layout=layout,
                             tracker=TrackingService(uri, "tests"))
    output = capsys.readouterr().out

    # The warm-up's 2 s validation makes an epoch look like 2 s: 0.97 * 12 - 4 = 7.64 s buy
    # 3. After epoch 2 (the first check: 1 s each), 6 s are used and 5 more fit: 7 in all.
    client = MlflowClient(uri)
    (run,) = client.search_runs([client.get_experiment_by_name("tests").experiment_id])
    bought = int(run.data.params["budget.epochs"])
    assert bought < 7
    assert f"after epoch 2 (1.0 s an epoch) the budget fits 7 epochs, not {bought}" in output
    assert metrics["epochs_run"] == 7 and not metrics["stopped_early"]
    assert run.data.metrics["budget.final_epochs"] == 7
    assert run.data.metrics["budget.replans"] == 1
    # One cosine from the first rate to the floor, never rising where the horizon moved.
    rates = json.loads(layout.history("cpu_net").read_text())["learning_rate"]
    assert rates[0] == pytest.approx(cosine_rate(0.003, 1e-4 / 0.003, 1 / bought), rel=1e-3)
    assert all(b < a for a, b in zip(rates, rates[1:], strict=False))
    assert rates[-1] == pytest.approx(1e-4, rel=1e-3)
