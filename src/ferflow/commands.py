"""The `ferflow` subcommands. Each is a thin wrapper over the library."""

from __future__ import annotations

import argparse

from ferflow.cli import command


def _params_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--params", default="params.yaml",
                        help="params file (default: %(default)s)")


@command("check-params", "validate params.yaml and print the effective values", _params_arg)
def check_params(args: argparse.Namespace) -> int:
    from ferflow.config import load_params

    print(load_params(args.params).model_dump_json(indent=2))
    return 0
