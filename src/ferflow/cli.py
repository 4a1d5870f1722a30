"""`ferflow` command line: the parser over the subcommands of `ferflow.commands`, with user
mistakes reported without tracebacks."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ferflow.commands import COMMANDS
from ferflow.stage import report_errors


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ferflow", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, command in sorted(COMMANDS.items()):
        command.add_arguments(sub.add_parser(name, help=command.help, description=command.help))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return report_errors(lambda: COMMANDS[args.command].handler(args))


if __name__ == "__main__":
    sys.exit(main())
