"""The evaluation records the data it scored as the run's datasets (real SQLite store)."""

from __future__ import annotations

import json

from mlflow import MlflowClient

from ferflow.config import EvaluateParams
from ferflow.evaluation.evaluate import evaluate_backbone
from ferflow.layout import Layout
from ferflow.tracking.run_ref import read_run_ref


def test_evaluate_logs_the_splits_it_scored_as_datasets(project, add_backbone) -> None:
    model_dir = add_backbone("cpu_net")  # a run that has no datasets yet
    evaluate_backbone("cpu_net", EvaluateParams(tta=("none",), misclassified=4), Layout(project))
    run = read_run_ref(model_dir / "run.json")
    inputs = MlflowClient(run.tracking_uri).get_run(run.run_id).inputs.dataset_inputs
    datasets = {i.dataset.name: i.dataset for i in inputs}
    assert sorted(datasets) == ["synthetic-test", "synthetic-val"]  # the project has no train
    for split, rows in (("val", 28), ("test", 21)):
        dataset = datasets[f"synthetic-{split}"]
        assert dataset.digest == "ab" * 6 and dataset.source_type == "code"
        profile = json.loads(dataset.profile)
        assert profile["num_rows"] == rows and profile["sha256"] == "ab" * 32
