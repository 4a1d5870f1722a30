"""Typed, strict, frozen params: `params.yaml` → `Params`.

Unknown keys and bad values fail with a message that names the key and what is allowed, so a
typo in params.yaml never silently falls back to a default. The training recipe (`train.*`)
has no defaults here: params.yaml is its one source, so a file without one of its keys fails
naming it. The other sections keep defaults for the keys a file leaves out.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from ferflow.errors import FerflowError

DEFAULT_PARAMS = Path("params.yaml")

class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SplitShares(Strict):
    """Share of rows per split (train/val/test), summing to 1."""

    train: float = Field(0.8, gt=0, lt=1)
    val: float = Field(0.1, gt=0, lt=1)
    test: float = Field(0.1, gt=0, lt=1)

    @model_validator(mode="after")
    def _sum_to_one(self) -> SplitShares:
        total = self.train + self.val + self.test
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"train + val + test must sum to 1 (they sum to {total:g})")
        return self


class SyntheticParams(Strict):
    """Procedurally drawn faces (the embedded default data)."""

    rows: int = Field(3500, ge=70, description="total rows over all splits")
    class_balance: Literal["fer2013", "uniform"] = "fer2013"
    splits: SplitShares = SplitShares()
    noise: float = Field(0.06, ge=0, le=0.5, description="pixel noise std, as a share of 255")


class FileParams(Strict):
    """A local fer2013.csv, Kaggle's fer2013.tar.gz, or an image-folder tree (train/, test/)."""

    path: str = ""
    # Image-folder layout: train/ → Training; test/ is split class-stratified into
    # PublicTest (this share) and PrivateTest (the rest), deterministically from data.seed.
    folder_val_share: float = Field(0.5, gt=0, lt=1)


class UrlParams(Strict):
    url: str = ""
    sha256: str = Field("", pattern=r"^([0-9a-fA-F]{64})?$")
    retries: int = Field(3, ge=0, le=20)
    timeout_s: float = Field(30.0, gt=0)
    # Wait before the first retry; doubled for each further one (capped at 60 s).
    backoff_s: float = Field(1.0, ge=0, le=60)


class KaggleParams(Strict):
    competition: str = (
        "challenges-in-representation-learning-facial-expression-recognition-challenge"
    )


class DataParams(Strict):
    source: Literal["synthetic", "file", "url", "kaggle"] = "synthetic"
    seed: int = 42
    synthetic: SyntheticParams = SyntheticParams()
    file: FileParams = FileParams()
    url: UrlParams = UrlParams()
    kaggle: KaggleParams = KaggleParams()
    # fer2013: the CSV's own labels; ferplus: the majority of FER+'s ten annotators, read from
    # ferplus_path (Microsoft's fer2013new.csv, row by row aligned with the full fer2013.csv).
    labels: Literal["fer2013", "ferplus"] = "fer2013"
    ferplus_path: str = ""

    @property
    def ferplus_file(self) -> Path | None:
        """The FER+ votes file when `labels` is ferplus, else None."""
        return Path(self.ferplus_path).expanduser() if self.labels == "ferplus" else None

    @model_validator(mode="after")
    def _source_has_its_settings(self) -> DataParams:
        if self.source == "file" and not self.file.path:
            raise ValueError("source is 'file' but data.file.path is empty: set it to the CSV, "
                             ".tar.gz or image folder")
        if self.source == "url" and not self.url.url:
            raise ValueError("source is 'url' but data.url.url is empty: set the http(s) address")
        if self.labels == "ferplus" and not self.ferplus_path.strip():
            raise ValueError("labels is 'ferplus' but data.ferplus_path is empty: set it to "
                             "Microsoft's FER+ fer2013new.csv, or set data.labels: fer2013")
        return self


class ValidateParams(Strict):
    """validate: the data gate's bounds (Great Expectations suites over CSV, images and arrays).

    Shares are fractions 0..1 of a split's rows. The defaults pass the real FER2013, which has
    known exact duplicates (7-8% of val/test images also occur in another split, mostly train)
    and a dozen blank images, and fail a data set broken well beyond that; see params.yaml.
    """

    min_rows: int = Field(70, ge=1, description="CSV data rows, all splits together")
    max_rows: int = Field(1_000_000, ge=1)
    min_class_rows: int = Field(1, ge=0, description="rows of every class in every split")
    min_class_share: float = Field(0.005, ge=0, le=1)
    max_class_share: float = Field(0.5, ge=0, le=1)
    blank_std: float = Field(2.0, ge=0, description="pixel std below which an image is blank")
    max_blank_share: float = Field(0.005, ge=0, le=1)
    max_within_split_duplicate_share: float = Field(0.06, ge=0, le=1)
    max_cross_split_duplicate_share: float = Field(0.12, ge=0, le=1)
    png_sample: int = Field(1000, ge=0, description="PNGs decoded and compared with the CSV")
    examples: int = Field(5, ge=1, le=100, description="offending rows shown per failure")

    @model_validator(mode="after")
    def _ordered_bounds(self) -> ValidateParams:
        if self.min_rows > self.max_rows:
            raise ValueError(f"min_rows ({self.min_rows}) is above max_rows ({self.max_rows})")
        if self.min_class_share > self.max_class_share:
            raise ValueError(f"min_class_share ({self.min_class_share:g}) is above "
                             f"max_class_share ({self.max_class_share:g})")
        return self


class BootstrapParams(Strict):
    """95% bootstrap intervals: of evaluate's metrics, and of register's paired comparison
    with the champion. The seed makes them reproducible."""

    resamples: int = Field(1000, ge=100, le=100_000)
    seed: int = Field(0, ge=0)


class ExternalDataset(Strict):
    """evaluate.external[]: a labelled image folder `<path>/<emotion>/*.png|jpg` (CK+, JAFFE,
    ...) that every evaluate@<backbone> stage also scores (ferflow.data.face_folders)."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$", max_length=40,
                      description="the data set in metric names and leaderboard columns")
    path: str = Field(min_length=1, description="the folder; relative to the repository root")
    # whole: resize each image to 48x48; detect: the largest face the face finder finds;
    # auto: whole for a square image of at most 100 px, else detect.
    crop: Literal["auto", "detect", "whole"] = "auto"
    detector: Literal["mtcnn", "haar"] = "mtcnn"
    ignore: tuple[str, ...] = Field((), description="class folders to leave out (contempt)")

    def folder(self, root: Path) -> Path:
        """The folder, a relative path taken from the repository root `root`."""
        path = Path(self.path).expanduser()
        return path if path.is_absolute() else root / path


class EvaluateParams(Strict):
    """evaluate@<backbone>: test-time augmentation, intervals, slices and the pictures."""

    # Modes reported besides the plain prediction, which is always computed (it is what the
    # served model does): none | flip | ten_crop (see ferflow.models.inference).
    tta: tuple[Literal["none", "flip", "ten_crop"], ...] = ("none", "flip", "ten_crop")
    ten_crop_size: int = Field(44, ge=24, le=48, description="side of the ten-crop crops")
    batch_size: int = Field(256, ge=1, le=8192)
    misclassified: int = Field(36, ge=0, le=120, description="faces in the mistakes grid")
    # Faces (half correct, half mistakes) in the occlusion-saliency grid; 0 = off. Each costs
    # 121 forward passes (ferflow.models.saliency).
    saliency: int = Field(16, ge=0, le=64, description="faces in the saliency grid")
    bootstrap: BootstrapParams = BootstrapParams()
    # Pixel levels (of 255) added to every test face for the brightness-invariance check.
    brightness_shift: float = Field(16.0, gt=0, le=128)
    external: tuple[ExternalDataset, ...] = ()

    @model_validator(mode="after")
    def _unique_modes(self) -> EvaluateParams:
        if len(set(self.tta)) != len(self.tta):
            raise ValueError(f"tta lists a mode twice: {list(self.tta)}")
        return self

    @field_validator("external")
    @classmethod
    def _unique_external_names(cls, sets: tuple[ExternalDataset, ...]
                               ) -> tuple[ExternalDataset, ...]:
        names = [d.name for d in sets]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"names {', '.join(twice)} more than once: give each data set "
                             "its own name")
        return sets


class RegisterParams(Strict):
    """register: which model the registry gets and when the `champion` alias moves."""

    model_name: str = Field("ferflow-emotion", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    # Validation accuracy (0..1) a new version must gain over the current champion to replace it
    # at the least; the gain must also lie beyond the val split's noise (the 95% paired bootstrap
    # interval of the difference, evaluate.bootstrap, above 0).
    min_improvement: float = Field(0.005, ge=0, le=1)
    # 0 = off; k >= 2 = an ensemble of the k best backbones (by validation accuracy) competes.
    ensemble_top_k: int = Field(0, ge=0, le=16)
    # A backbone under either is flagged in the leaderboard (reported, never used to choose):
    # its lowest test recall of a class, and its share of test faces whose predicted class
    # survives a horizontal flip.
    min_class_recall: float = Field(0.1, ge=0, le=1)
    min_flip_agreement: float = Field(0.8, ge=0, le=1)

    @model_validator(mode="after")
    def _ensemble_of_two_or_more(self) -> RegisterParams:
        if self.ensemble_top_k == 1:
            raise ValueError("ensemble_top_k must be 0 (off) or at least 2 (an ensemble of one "
                             "model is that model)")
        return self


class AugmentParams(Strict):
    """Training-only augmentation (Keras layers, inactive at inference). A recipe section:
    no defaults, like TrainParams."""

    flip: bool
    shift: float = Field(ge=0, le=0.5, description="max shift, a share of the side")
    rotation: float = Field(ge=0, le=180, description="max rotation in degrees")
    zoom: float = Field(ge=0, lt=1, description="max zoom in or out, a share of the side")
    erasing: float = Field(ge=0, le=1, description="chance to erase one random rectangle")
    erasing_max_area: float = Field(gt=0, le=1, description="largest erased share of area")


class FineTuneParams(Strict):
    """Two-phase fine-tuning of an ImageNet base (models.<b>.weights set). A recipe section:
    no defaults, like TrainParams."""

    # Phase 1 trains only the new head (base frozen) for this many epochs; phase 2 unfreezes the
    # base's last block for the remaining `epochs - head_epochs` at learning_rate * lr_factor.
    head_epochs: int = Field(ge=1)
    lr_factor: float = Field(gt=0, le=1)


class TrainParams(Strict):
    """train@<backbone>: the shared recipe; `models.<backbone>` may override its keys.

    No key has a default: params.yaml is the one recipe and sets every key (configs/*.yaml and
    `dvc exp run -S` change some of them on top of it)."""

    backbones: tuple[str, ...] = Field(description="model-zoo names (ferflow.models)")
    seed: int
    epochs: int = Field(ge=1)
    batch_size: int = Field(ge=1, le=8192)
    accelerator_batch_size: int | None = Field(
        ge=1, le=65536, description="batch size where the data lives on the devices (JAX on "
        "a GPU, or several devices); null = batch_size. The rest of the recipe is the same")
    optimizer: Literal["sgd", "adam"]
    learning_rate: float = Field(gt=0, le=10)
    momentum: float = Field(ge=0, lt=1, description="SGD (Nesterov) momentum")
    weight_decay: float = Field(ge=0, le=1, description="decoupled weight decay")
    schedule: Literal["plateau", "cosine"]
    plateau_factor: float = Field(gt=0, lt=1)
    plateau_patience: int = Field(ge=1)
    min_learning_rate: float = Field(ge=0)
    label_smoothing: float = Field(ge=0, lt=1)
    class_weights: Literal["none", "balanced"]
    time_budget_s: float = Field(ge=0, description="training seconds after which the epoch in "
                                 "progress is the last; 0 = no limit")
    early_stopping_patience: int = Field(ge=0, description="epochs without a better val "
                                         "accuracy before stopping; 0 = off")
    mixed_precision: bool = Field(description="on a GPU: bfloat16 compute where it has it "
                                  "(JAX), else float16 with loss scaling; ignored on CPU")
    augment: AugmentParams
    fine_tune: FineTuneParams

    @field_validator("backbones")
    @classmethod
    def _unique_backbones(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        # Checked here, not left to DVC: over an empty list the train/evaluate matrix silently
        # has no stages. Whether each name is in the model zoo is checked where the zoo is
        # loaded (ferflow.training.recipe.recipe_for), as importing it here would import Keras.
        if not names:
            raise ValueError("is empty: list at least one backbone of the model zoo")
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise ValueError(f"lists {', '.join(twice)} more than once")
        return names


BUILD_KEYS: tuple[str, ...] = ("head", "width", "dropout", "weights", "pretrained_input_size")
"""The keys of `models.<backbone>` that say how to build it; every other key overrides `train`."""


class KeyProblems(ValueError):
    """Bad keys below a section, each as (key path inside it, message), so that the error
    names the full path (models.cpu_net.augment.zoom) rather than only the section."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{key}: {message}" for key, message in problems))
        self.problems = problems


class ModelParams(Strict):
    """models.<backbone>: how to build it, plus overrides of any `train.*` key but `backbones`
    (nested sections merge: `augment: {erasing: 0}` keeps train's other augment keys)."""

    # The overrides are the extra keys. Their names are checked below; their values only in
    # the recipe they make with `train` (Params._overrides_make_valid_recipes), since a
    # partial recipe alone lacks keys that only `train` sets.
    model_config = ConfigDict(extra="allow", frozen=True)

    head: Literal["softmax", "l2svm"] = "softmax"
    width: float = Field(1.0, gt=0, le=4, description="channel multiplier (1 = published size)")
    dropout: float = Field(0.5, ge=0, lt=1)
    weights: str | None = Field(None, description="local ImageNet no-top weights (vgg16, "
                                "resnet50); null = train from scratch")
    pretrained_input_size: int = Field(96, ge=32, le=512)

    @property
    def train_overrides(self) -> dict[str, Any]:
        """The `train.*` keys this backbone overrides, as written (nested sections partial)."""
        return dict(self.model_extra or {})

    @model_validator(mode="after")
    def _overrides_are_train_keys(self) -> ModelParams:
        overrides = self.train_overrides
        allowed = set(TrainParams.model_fields) - {"backbones"}
        problems = [(key, f"unknown key (a models.<backbone> section takes "
                          f"{', '.join(BUILD_KEYS)} and any train.* key but backbones; check "
                          "the spelling)") for key in sorted(set(overrides) - allowed)]
        if problems:
            raise KeyProblems(problems)
        return self


def backbone_recipe(train: TrainParams, model: ModelParams) -> TrainParams:
    """`train` with `model`'s overrides (nested sections merge), validated."""
    return TrainParams.model_validate(merge_sections(train.model_dump(), model.train_overrides))


class MlflowParams(Strict):
    """MLflow tracking. The store is $MLFLOW_TRACKING_URI, else sqlite:///<repo>/mlflow.db."""

    experiment: str = Field("ferflow", min_length=1)
    system_metrics: bool = Field(True, description="sample CPU, memory, disk, network (and "
                                 "GPU) use into each training run as system/* metrics")


class Params(Strict):
    data: DataParams = DataParams()
    # YAML key `validate` (the stage's name); pydantic's BaseModel.validate would be shadowed.
    validation: ValidateParams = Field(ValidateParams(), alias="validate")
    evaluate: EvaluateParams = EvaluateParams()
    # YAML key `register` (the stage's name); the Python name differs because pydantic models
    # inherit ABCMeta.register, which a field named `register` would shadow.
    registry: RegisterParams = Field(RegisterParams(), alias="register")
    train: TrainParams
    # Per-backbone build settings and recipe overrides; `{}` builds with the defaults and
    # trains with `train` as it is. Declared after `train`, which its validator reads.
    models: dict[str, ModelParams] = {}
    mlflow: MlflowParams = MlflowParams()

    @field_validator("models")
    @classmethod
    def _overrides_make_valid_recipes(cls, models: dict[str, ModelParams],
                                      info: ValidationInfo) -> dict[str, ModelParams]:
        train = info.data.get("train")
        if train is None:  # `train` itself is invalid: named there, not again per backbone
            return models
        problems: list[tuple[str, str]] = []
        for name, model in models.items():
            try:
                backbone_recipe(train, model)
            except ValidationError as exc:
                problems += [(f"{name}.{key}", message) for e in exc.errors()
                             for key, message in _problems(e)]
        if problems:
            raise KeyProblems(problems)
        return models

    @model_validator(mode="after")
    def _listed_backbones_have_models_sections(self) -> Params:
        # dvc.yaml's train stage tracks params `models.<backbone>`, and DVC stops on a missing
        # one only after the data stages ran. This also stops a misspelt name in the first
        # stage, unless its section is misspelt alike (then the train stage names it).
        missing = [name for name in self.train.backbones if name not in self.models]
        if missing:
            sections = ", ".join(f"models.{name}" for name in missing)
            raise ValueError(f"train.backbones: lists {', '.join(missing)} without a {sections} "
                             f"section: add one ({missing[0]}: {{}} takes the defaults), as "
                             "dvc.yaml's train stage tracks models.<backbone>")
        return self


def merge_sections(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """`base` with `extra`'s values; a mapping in both merges key by key, recursively."""
    merged = dict(base)
    for key, value in extra.items():
        both = isinstance(value, dict) and isinstance(merged.get(key), dict)
        merged[key] = merge_sections(merged[key], value) if both else value
    return merged


def _problems(error: dict[str, Any]) -> list[tuple[str, str]]:
    """(key path, message) for one pydantic error; a KeyProblems cause gives one per key."""
    key = ".".join(str(part) for part in error["loc"])
    if error["type"] == "extra_forbidden":
        return [(key, "unknown key (check the spelling; see README 'Params')")]
    if error["type"] == "missing" and key.startswith("evaluate.external"):
        return [(key, "missing; each evaluate.external entry needs a name and a path")]
    if error["type"] == "missing":
        # Only the recipe has required keys (every other section has defaults).
        return [(key, "missing; every train.* recipe key is set in params.yaml "
                      "(see README 'Params')")]
    cause = error.get("ctx", {}).get("error")
    if isinstance(cause, KeyProblems):
        return [(f"{key}.{inner}", message) for inner, message in cause.problems]
    got = error.get("input")
    shown = "" if isinstance(got, dict) else f" (got {got!r})"
    message = str(cause) if error["type"] == "value_error" else error["msg"]
    return [(key, f"{message}{shown}")]


def _describe(error: dict[str, Any]) -> str:
    # A check across sections (no location) names its keys itself.
    return "\n  ".join(f"{key}: {message}" if key else message
                       for key, message in _problems(error))


def parse_params(raw: Any, source: str = "params") -> Params:
    """Validate a params mapping; raise FerflowError naming every bad key."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise FerflowError(f"{source}: expected a mapping of sections (data, train, ...), "
                           f"got {type(raw).__name__}")
    try:
        return Params.model_validate(raw)
    except ValidationError as exc:
        lines = "\n  ".join(_describe(e) for e in exc.errors())
        raise FerflowError(f"{source} has invalid params:\n  {lines}") from None


def load_params(path: str | os.PathLike[str] = DEFAULT_PARAMS) -> Params:
    """Read and validate `params.yaml`."""
    path = Path(path)
    if not path.exists():
        raise FerflowError(f"{path}: params file not found; run from the repository root "
                           "or pass --params PATH")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise FerflowError(f"{path}: not valid YAML: {exc}") from None
    return parse_params(raw, str(path))
