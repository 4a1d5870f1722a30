"""Typed, strict, frozen params: `params.yaml` → `Params`.

Unknown keys and bad values fail with a message that names the key and what is allowed, so a
typo in params.yaml never silently falls back to a default.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ferflow.errors import FerflowError

DEFAULT_PARAMS = Path("params.yaml")

# FER2013's class shares (train split): disgust is rare, happy is common.
FER2013_CLASS_SHARES: tuple[float, ...] = (0.139, 0.015, 0.143, 0.251, 0.168, 0.110, 0.173)


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

    @model_validator(mode="after")
    def _source_has_its_settings(self) -> DataParams:
        if self.source == "file" and not self.file.path:
            raise ValueError("source is 'file' but data.file.path is empty: set it to the CSV, "
                             ".tar.gz or image folder")
        if self.source == "url" and not self.url.url:
            raise ValueError("source is 'url' but data.url.url is empty: set the http(s) address")
        return self


class Params(Strict):
    data: DataParams = DataParams()


def _describe(error: dict[str, Any]) -> str:
    key = ".".join(str(part) for part in error["loc"]) or "(top level)"
    if error["type"] == "extra_forbidden":
        return f"{key}: unknown key (check the spelling; see README 'Params')"
    got = error.get("input")
    shown = "" if isinstance(got, dict) else f" (got {got!r})"
    return f"{key}: {error['msg']}{shown}"


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
