"""The data gate: Great Expectations suites over the raw CSV, the PNG tree, the arrays and the
data's quality (duplicates, blank images, class balance)."""

from ferflow.validation.gate import validate_dataset
from ferflow.validation.report import Outcome, ValidationResult, format_summary

__all__ = ["Outcome", "ValidationResult", "format_summary", "validate_dataset"]
