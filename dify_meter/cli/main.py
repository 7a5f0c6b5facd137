"""`dify-meter`: the command line. Exit codes: 0 success, 1 failure at run time, 2 bad usage or config."""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence

from dify_meter import __version__
from dify_meter.core.logs import apply_log_level
from dify_meter.settings import SettingsError, load_settings

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    from dify_meter.cli import check as cli_check
    from dify_meter.cli import export as cli_export
    from dify_meter.cli import spool as cli_spool
    from dify_meter.cli import start as cli_start
    from dify_meter.cli.demo import register as register_demo
    from dify_meter.sandbox.api_meter import cli as api_meter_cli
    from dify_meter.sandbox.dify import cli as dify_cli

    parser = argparse.ArgumentParser(
        prog="dify-meter",
        description="Exact daily LLM usage from a Dify workspace, kept in DuckDB and delivered to API_Meter.",
    )
    parser.add_argument("--version", action="version", version=f"dify-meter {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    cli_export.register(commands)
    cli_check.register(commands)
    cli_start.register(commands)
    register_demo(commands)
    cli_spool.register(commands)
    sandbox = commands.add_parser("sandbox", help="run a simulator (Dify console API or API_Meter) on loopback")
    simulators = sandbox.add_subparsers(dest="simulator", metavar="SIMULATOR", required=True)
    dify_cli.register(simulators)
    api_meter_cli.register(simulators)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # Dagster's notices about its own beta parameters are for Dagster developers, not for operators.
    warnings.filterwarnings("ignore", message=".*is currently in beta")
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command != "sandbox":  # the simulators need no configuration
            # The one read of the environment for this command; handlers take `args.settings`.
            args.settings = load_settings(export_env_file=True)
            apply_log_level(args.settings.log_level)
        return int(args.handler(args) or EXIT_OK)
    except SettingsError as exc:
        print(f"dify-meter: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
