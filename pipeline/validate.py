"""validate stage: the data gate over data/raw/fer2013.csv and the preprocess outputs.

Writes reports/validation.json (DVC metrics) and Great Expectations Data Docs under
reports/data_docs/ (open index.html). Exit codes: 0 the data passed; 1 the gate failed (each
failed expectation is listed with its observed value and a few offending rows); 2 a usage
error (missing input, bad params or arguments).
"""

import sys

from ferflow.stage import run_stage, stage_args
from ferflow.validation import format_summary, validate_dataset

GATE_FAILED = 1


def main() -> int:
    stage = stage_args(__doc__.splitlines()[0])
    layout = stage.layout
    result = validate_dataset(layout.raw_csv, layout.data_dir, layout.reports_dir,
                              stage.params.validation, stage.params.data.ferplus_file)
    print(format_summary(result), file=sys.stdout if result.success else sys.stderr)
    return 0 if result.success else GATE_FAILED


if __name__ == "__main__":
    run_stage(main)
