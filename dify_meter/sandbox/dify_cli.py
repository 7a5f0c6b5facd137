"""`dify-meter sandbox dify ...`: serve a generated Dify workspace on loopback until Ctrl-C.

Also runnable alone: `python -m dify_meter.sandbox.dify_cli --port 5001`.
"""

from __future__ import annotations

import argparse
import sys
import threading
from datetime import date

from dify_meter.sandbox.dify_server import DEFAULT_API_KEY, DifySimulator
from dify_meter.sandbox.workspace import generate_workspace


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "dify",
        help="serve a simulated Dify console API with a generated workspace",
        description="Serve a simulated Dify 1.12.1 console API (admin-key auth) on a loopback address.",
    )
    add_arguments(parser)
    parser.set_defaults(handler=serve)
    return parser


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=5001, help="port to listen on (default 5001; 0 = any free)")
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to listen on (default 127.0.0.1)")
    parser.add_argument("--seed", type=int, default=7, help="workspace generator seed (default 7)")
    parser.add_argument("--start-date", type=_date, default=None,
                        help="first generated day, YYYY-MM-DD (default: 7 days ago)")
    parser.add_argument("--days", type=int, default=7, help="number of generated days (default 7)")
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies the everyday traffic (default 1.0)")
    parser.add_argument("--api-key", default=DEFAULT_API_KEY,
                        help=f"admin API key to accept (default {DEFAULT_API_KEY})")
    parser.add_argument("--workspace-id", default=None, help="workspace (tenant) id (default: generated)")
    parser.add_argument("--account-timezone", default="America/New_York",
                        help="the owner account's timezone (default America/New_York)")


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date as YYYY-MM-DD, got {value!r}") from None


def serve(args: argparse.Namespace) -> int:
    try:
        workspace = generate_workspace(args.seed, args.start_date, args.days,
                                       account_timezone=args.account_timezone, scale=args.scale)
        simulator = DifySimulator(workspace, api_key=args.api_key, workspace_id=args.workspace_id,
                                  host=args.host, port=args.port)
        simulator.start()
    except (ValueError, OSError) as error:
        print(f"dify simulator: {error}", file=sys.stderr)
        return 2
    print(f"DIFY_API_URL={simulator.base_url}")
    print(f"DIFY_API_KEY={simulator.api_key}")
    print(f"DIFY_WORKSPACE_ID={simulator.workspace_id}")
    print(f"# {workspace.summary()}; owner timezone {workspace.owner.timezone}. Ctrl-C stops.", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        simulator.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dify_meter.sandbox.dify_cli", description=__doc__)
    add_arguments(parser)
    return serve(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
