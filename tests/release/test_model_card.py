"""The model card: what a registered version's description tells its reader."""

from __future__ import annotations

from pathlib import Path

from mlflow import MlflowClient

from ferflow.config import BootstrapParams, EvaluateParams, RegisterParams
from ferflow.data.lineage import DataLineage
from ferflow.evaluation.evaluate import evaluate_backbone
from ferflow.layout import Layout
from ferflow.release.model_card import model_card
from ferflow.release.register import register_best
from ferflow.release.selection import Candidate
from ferflow.tracking.run_ref import read_run_ref


def test_card_has_scores_data_code_and_recipe() -> None:
    best = Candidate(name="cpu_net", members=("cpu_net",), val_accuracy=0.7143,
                     val_macro_f1=0.6, test_accuracy=0.2857, test_macro_f1=0.2,
                     metrics={"val_accuracy_ci_low": 0.6, "val_accuracy_ci_high": 0.8})
    lineage = DataLineage(source="file", origin="/data/fer2013.csv", sha256="ab" * 32,
                          rows={"train": 70, "val": 28, "test": 21})
    recipe = {"train.seed": "42", "train.epochs": "4", "model.width": "0.5"}
    card = model_card(best, 3, lineage, "0123abc", {"cpu_net": recipe}).splitlines()
    assert card[0] == ("cpu_net: validation accuracy 0.7143 (chosen by it among 3 candidates), "
                       "test accuracy 0.2857, macro-F1 0.2000.")
    assert "| accuracy | 0.7143 [0.6000, 0.8000] | 0.2857 |" in card
    assert "| macro-F1 | 0.6000 | 0.2000 |" in card
    assert (f"**Data**: `file` from `/data/fer2013.csv`, sha256 `{'ab' * 32}`; rows: train 70, "
            "val 28, test 21.") in card
    assert "**Code**: git commit `0123abc`." in card
    # The main recipe keys in a fixed order; the run's other params stay in the run.
    assert card[-2:] == ["**Recipe**:", "- `cpu_net`: model.width=0.5, train.epochs=4"]
    ensemble = Candidate(name="ensemble(a+b)", members=("a", "b"), val_accuracy=0.8,
                         val_macro_f1=0.7, test_accuracy=0.75, test_macro_f1=0.7)
    lines = model_card(ensemble, 3, None, "0123abc", {"a": recipe}).splitlines()
    assert "**Data**: not recorded (no data/raw/source.json)." in lines
    assert lines[-2:] == ["- `a`: model.width=0.5, train.epochs=4",
                          "- `b`: not recorded in its training run"]


def test_registered_version_carries_its_card(project: Path, add_backbone,
                                             tracking_uri: str) -> None:
    add_backbone("a", predicts=3)
    evaluate_backbone("a", EvaluateParams(tta=("none",), misclassified=4), Layout(project))
    client = MlflowClient(tracking_uri)
    run_id = read_run_ref(project / "models" / "a" / "run.json").run_id
    for key, value in (("train.optimizer", "adam"), ("model.width", "0.125")):
        client.log_param(run_id, key, value)  # as the train stage logs its recipe
    register_best(["a"], RegisterParams(model_name="carded"), Layout(project),
                  bootstrap=BootstrapParams(resamples=100))
    version = client.get_model_version("carded", "1")
    card = version.description.splitlines()
    assert card[0].startswith("a: validation accuracy ")
    assert card[2] == "| metric | validation | test |"
    assert (f"**Data**: `synthetic` from `synthetic`, sha256 `{'ab' * 32}`; rows: val 28, "
            "test 21.") in card
    assert f"**Code**: git commit `{version.tags['git_commit']}`." in card
    assert card[-1] == "- `a`: model.width=0.125, train.optimizer=adam"
