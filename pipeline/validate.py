"""validate stage: the data gate over data/raw/fer2013.csv and the preprocess outputs.

Writes reports/validation.json (DVC metrics) and Great Expectations Data Docs under
reports/data_docs/ (open index.html). Exit codes: 0 the data passed; 1 the gate failed (each
failed expectation is listed with its observed value and a few offending rows); 2 a usage
error (missing input, bad params or arguments).
"""

import argparse
import sys
from pathlib import Path

from ferflow.cli import run_stage
from ferflow.config import load_params
from ferflow.validation import format_summary, validate_dataset

GATE_FAILED = 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml", help="default: %(default)s")
    parser.add_argument("--csv", type=Path, default=Path("data/raw/fer2013.csv"))
    parser.add_argument("--data-dir", type=Path, default=Path("data"))
    parser.add_argument("--reports-dir", type=Path, default=Path("reports"))
    args = parser.parse_args()
    params = load_params(args.params).validation
    result = validate_dataset(args.csv, args.data_dir, args.reports_dir, params)
    print(format_summary(result), file=sys.stdout if result.success else sys.stderr)
    return 0 if result.success else GATE_FAILED


if __name__ == "__main__":
    run_stage(main)
