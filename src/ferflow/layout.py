"""Where every stage output lives: one frozen `Layout(root)` names each path of the pipeline.

Stage scripts, training, evaluation, the release step and `ferflow retrain` take their paths
from here instead of joining strings; a test keeps `dvc.yaml`'s outs, metrics and plots equal
to these paths.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# File names inside the folders that the data stages' functions take (raw_dir, data_dir).
RAW_CSV = "fer2013.csv"
SOURCE_JSON = "source.json"
IMAGES = "images"
MANIFEST = "manifest.csv"
LABELS_RECORD = "labels.json"
ARRAYS = "arrays"
VALIDATION_REPORT = "validation.json"
DATA_DOCS = "data_docs"


def arrays_file(arrays_dir: Path, split: str) -> Path:
    return arrays_dir / f"{split}.npz"


@dataclass(frozen=True)
class Layout:
    """The pipeline's files under `root` (the working copy a stage runs in)."""

    root: Path = Path(".")

    # download
    @property
    def raw_dir(self) -> Path:
        return self.root / "data" / "raw"

    @property
    def raw_csv(self) -> Path:
        return self.raw_dir / RAW_CSV

    @property
    def source_json(self) -> Path:
        return self.raw_dir / SOURCE_JSON

    # preprocess
    @property
    def data_dir(self) -> Path:
        """The folder preprocess writes `images/`, `manifest.csv` and `arrays/` into."""
        return self.root / "data"

    @property
    def images_dir(self) -> Path:
        return self.data_dir / IMAGES

    @property
    def manifest(self) -> Path:
        return self.data_dir / MANIFEST

    @property
    def labels_record(self) -> Path:
        """Where the labels came from (fer2013 | ferplus) and what FER+ changed or dropped."""
        return self.data_dir / LABELS_RECORD

    @property
    def arrays_dir(self) -> Path:
        return self.data_dir / ARRAYS

    def arrays(self, split: str) -> Path:
        return arrays_file(self.arrays_dir, split)

    # validate
    @property
    def reports_dir(self) -> Path:
        return self.root / "reports"

    @property
    def validation_report(self) -> Path:
        return self.reports_dir / VALIDATION_REPORT

    @property
    def data_docs(self) -> Path:
        return self.reports_dir / DATA_DOCS

    # external
    @property
    def synthetic_external(self) -> Path:
        """The synthetic faces as a labelled image folder: evaluate.external's default."""
        return self.data_dir / "external" / "synthetic-faces"

    # train@<backbone>
    def model_dir(self, backbone: str) -> Path:
        return self.root / "models" / backbone

    def model_file(self, backbone: str) -> Path:
        return self.model_dir(backbone) / "model.keras"

    def history(self, backbone: str) -> Path:
        return self.model_dir(backbone) / "history.json"

    def run_json(self, backbone: str) -> Path:
        return self.model_dir(backbone) / "run.json"

    @property
    def train_metrics_dir(self) -> Path:
        return self.root / "metrics" / "train"

    def train_metrics(self, backbone: str) -> Path:
        return self.train_metrics_dir / f"{backbone}.json"

    def curves_csv(self, backbone: str) -> Path:
        return self.root / "plots" / "train" / f"{backbone}.csv"

    def curves_png(self, backbone: str) -> Path:
        return self.root / "plots" / "train" / f"{backbone}.png"

    def resume_dir(self, backbone: str, process: int = 0) -> Path:
        """Resume checkpoints: outside DVC's outputs, which DVC deletes before a stage runs.
        Process k > 0 of a multi-host training keeps its own (two may share a host)."""
        return self.root / ".ferflow" / "resume" / (f"{backbone}@process{process}" if process
                                                    else backbone)

    # evaluate@<backbone>
    def eval_metrics(self, backbone: str) -> Path:
        return self.root / "metrics" / "eval" / f"{backbone}.json"

    def confusion_csv(self, backbone: str) -> Path:
        return self.root / "plots" / "confusion" / f"{backbone}.csv"

    def eval_plots(self, backbone: str) -> Path:
        return self.root / "plots" / "eval" / backbone

    # register
    @property
    def summary(self) -> Path:
        return self.root / "metrics" / "summary.json"

    @property
    def leaderboard(self) -> Path:
        return self.reports_dir / "leaderboard.md"
