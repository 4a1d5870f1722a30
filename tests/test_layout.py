"""`Layout` is the pipeline's one list of paths: dvc.yaml declares exactly its outputs."""

from __future__ import annotations

from pathlib import Path

import yaml

from ferflow.layout import Layout

ROOT = Path(__file__).resolve().parents[1]
B = "cpu_net"


def _declared(stage: dict) -> set[str]:
    paths = set()
    for section in ("outs", "metrics", "plots"):
        for entry in stage.get(section, []):
            paths.add(next(iter(entry)) if isinstance(entry, dict) else entry)
    return {p.replace("${item.backbone}", B) for p in paths}


def test_dvc_yaml_outputs_are_the_layouts_paths() -> None:
    layout = Layout(Path("."))
    expected = {
        "download": [layout.raw_csv, layout.source_json],
        "preprocess": [layout.images_dir, layout.manifest, layout.arrays_dir,
                       layout.labels_record],
        "validate": [layout.data_docs, layout.validation_report],
        "external": [layout.synthetic_external],
        "train": [layout.model_dir(B), layout.curves_csv(B), layout.train_metrics(B)],
        "evaluate": [layout.eval_plots(B), layout.confusion_csv(B), layout.eval_metrics(B)],
        "register": [layout.leaderboard, layout.summary],
    }
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"]
    assert set(stages) == set(expected)
    for name, paths in expected.items():
        assert _declared(stages[name]) == {p.as_posix() for p in paths}, name


def test_paths_hang_off_the_root(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    assert layout.arrays("val") == tmp_path / "data" / "arrays" / "val.npz"
    assert layout.run_json(B) == tmp_path / "models" / B / "run.json"
    assert layout.resume_dir(B) == tmp_path / ".ferflow" / "resume" / B
