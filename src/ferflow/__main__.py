"""`python -m ferflow` = the `ferflow` command."""

import sys

from ferflow.cli import main

sys.exit(main())
