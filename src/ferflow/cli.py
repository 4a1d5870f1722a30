"""`ferflow` command line: the stages and tools, with user mistakes reported without tracebacks."""

from __future__ import annotations

import argparse
import faulthandler
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from ferflow.errors import FerflowError

if TYPE_CHECKING:
    from ferflow.config import Params


def report_errors(func: Callable[[], int | None]) -> int:
    """Run `func`; turn a FerflowError into a one-paragraph message and exit code 2."""
    try:
        return int(func() or 0)
    except FerflowError as exc:
        print(f"ferflow: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("ferflow: interrupted; outputs were left as they were before this run",
              file=sys.stderr)
        return 130


def run_stage(func: Callable[[], int | None]) -> None:
    """Entry point helper for `pipeline/<stage>.py` scripts.

    A native crash (a segfault in a backend kernel) kills the stage before any Python handler
    runs; faulthandler first prints where each thread was, so the log names the layer or call
    instead of DVC's bare "exited with -11".
    """
    faulthandler.enable()
    sys.exit(report_errors(func))


# Each subcommand: name → (help, add_arguments, handler). Rooms register theirs below.
Handler = Callable[[argparse.Namespace], int | None]
_COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], Handler]] = {}


def backbone_stage_args(description: str | None) -> tuple[str, Params]:
    """The command line of a matrix stage (`<backbone> [--params FILE]`): the backbone and the
    validated params."""
    from ferflow.config import load_params

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("backbone")
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args()
    return args.backbone, load_params(args.params)


def command(name: str, help: str, add_arguments: Callable[[argparse.ArgumentParser], None]):
    def register(handler: Handler) -> Handler:
        _COMMANDS[name] = (help, add_arguments, handler)
        return handler

    return register


def _load_commands() -> None:
    # Imported for their @command registrations; kept lazy so `ferflow --help` stays fast.
    import ferflow.commands  # noqa: F401


def build_parser() -> argparse.ArgumentParser:
    _load_commands()
    parser = argparse.ArgumentParser(prog="ferflow", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (help_text, add_arguments, _) in sorted(_COMMANDS.items()):
        add_arguments(sub.add_parser(name, help=help_text, description=help_text))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = _COMMANDS[args.command][2]
    return report_errors(lambda: handler(args))


if __name__ == "__main__":
    sys.exit(main())
