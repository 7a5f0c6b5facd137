"""`dify-meter sandbox api-meter`: run the reference API_Meter in the foreground until Ctrl-C."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from pathlib import Path

from dify_meter.sandbox.api_meter.server import DEFAULT_TENANT_ID, DEFAULT_TOKEN, ApiMeterServer

DEFAULT_PORT = 5002


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the `api-meter` sub-command to an argparse sub-parsers object."""
    parser = subparsers.add_parser(
        "api-meter",
        help="run a local API_Meter that follows the ingestion contract (for tests and the demo)",
        description="Serve POST /v1/usage on a loopback address until Ctrl-C, printing the settings to use.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0: any free)")
    parser.add_argument("--token", default=DEFAULT_TOKEN, help="bearer token the server accepts")
    parser.add_argument("--tenant", default=DEFAULT_TENANT_ID, help="tenant UUID the token is allowed for")
    parser.add_argument("--store", type=Path, help="SQLite file that keeps the records across restarts")
    faults = parser.add_argument_group("faults", "misbehave on the next N usage requests")
    faults.add_argument("--fail-next", type=int, default=0, metavar="N", help="answer N requests with a 5xx")
    faults.add_argument("--fail-status", type=int, default=503, help="status of --fail-next (default 503)")
    faults.add_argument("--rate-limit-next", type=int, default=0, metavar="N", help="answer N requests 429")
    faults.add_argument("--retry-after", default="1", help="Retry-After of those 429s: seconds or an HTTP date")
    faults.add_argument("--slow-next", type=int, default=0, metavar="N", help="hold N requests before answering")
    faults.add_argument("--slow-seconds", type=float, default=60.0, help="how long to hold them (default 60)")
    faults.add_argument(
        "--drop-after-apply-next",
        type=int,
        default=0,
        metavar="N",
        help="apply N requests, then close the connection without an answer",
    )
    faults.add_argument("--max-body-bytes", type=int, help="answer 413 to bodies larger than this")
    parser.set_defaults(handler=run)
    return parser


def run(args: argparse.Namespace) -> int:
    server = ApiMeterServer(
        token=args.token,
        tenant_id=args.tenant,
        store_path=args.store,
        host=args.host,
        port=args.port,
        max_body_bytes=args.max_body_bytes,
    )
    server.fail_next(args.fail_next, status=args.fail_status)
    server.rate_limit_next(args.rate_limit_next, retry_after=args.retry_after)
    server.slow_next(args.slow_next, args.slow_seconds)
    server.drop_after_apply_next(args.drop_after_apply_next)
    stop = threading.Event()
    # SIGTERM (e.g. from a process manager) stops as cleanly as Ctrl-C.
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with server:
        print(f"API_METER_URL={server.base_url}", flush=True)
        print(f"API_METER_TOKEN={args.token}", flush=True)
        print(f"API_METER_TENANT_ID={server.tenant_id}", flush=True)
        print(
            f"# sandbox API_Meter serving POST {server.base_url}/v1/usage"
            + (f", records kept in {args.store}" if args.store else ", records in memory only")
            + "; Ctrl-C to stop",
            flush=True,
        )
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dify_meter.sandbox.api_meter.cli")
    subparsers = parser.add_subparsers(dest="command", required=True)
    register(subparsers)
    args = parser.parse_args(["api-meter", *(sys.argv[1:] if argv is None else argv)])
    return args.handler(args)


if __name__ == "__main__":
    raise SystemExit(main())
