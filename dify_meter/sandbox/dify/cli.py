"""`dify-meter sandbox dify ...`: serve a generated Dify workspace on loopback until Ctrl-C.

Also runnable alone: `python -m dify_meter.sandbox.dify.cli --port 5001`.
"""

from __future__ import annotations

import argparse
import sys
import threading
from datetime import date

from dify_meter.sandbox.dify.faults import FaultSpec, FaultSpecError
from dify_meter.sandbox.dify.generate import generate_workspace
from dify_meter.sandbox.dify.server import (
    ACCESS_TOKEN_TTL,
    DEFAULT_API_KEY,
    DEFAULT_DIFY_VERSION,
    REFRESH_TOKEN_TTL,
    DifySimulator,
)

FAULT_HELP = """\
fault grammar (--fault, repeatable): KIND[:key=value]...
  KIND  500, 502, 503, 504 (JSON error), 429 (with Retry-After), malformed (200 that is not JSON),
        truncated (Content-Length larger than the body sent, then close), drop (close without answer)
  keys  next=N (the next N matching requests, default 1), share=F (each matching request with
        probability F from a seeded RNG; alone: no limit), seed=N (of share, default 0),
        path=TEXT (only paths containing TEXT), after=N (let N matching requests through first),
        retry_after=S (of 429, default 1), body=html|json (of malformed: an HTML page, or the
        real answer cut in half)
  e.g.  --fault 503:next=3  --fault 429:share=0.2:retry_after=1  --fault malformed:path=chat-messages
"""


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "dify",
        help="serve a simulated Dify console API with a generated workspace",
        description="Serve a simulated Dify console API (admin key, and email/password login if given) "
        "on a loopback address.",
        epilog=FAULT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(parser)
    parser.set_defaults(handler=serve)
    return parser


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=5001, help="port to listen on (default 5001; 0 = any free)")
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to listen on (default 127.0.0.1)")
    parser.add_argument("--seed", type=int, default=7, help="workspace generator seed (default 7)")
    parser.add_argument(
        "--start-date", type=_date, default=None, help="first generated day, YYYY-MM-DD (default: 7 days ago)"
    )
    parser.add_argument("--days", type=int, default=7, help="number of generated days (default 7)")
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies the everyday traffic (default 1.0)")
    parser.add_argument(
        "--api-key", default=DEFAULT_API_KEY, help=f"admin API key to accept, in every mode (default {DEFAULT_API_KEY})"
    )
    parser.add_argument("--workspace-id", default=None, help="workspace (tenant) id (default: generated)")
    parser.add_argument(
        "--account-timezone", default="America/New_York", help="the owner account's timezone (default America/New_York)"
    )
    parser.add_argument(
        "--dify-version",
        default=DEFAULT_DIFY_VERSION,
        help=f"the X-Version answered, and the login behaviour: 1.11.2+ Base64 password and "
        f"cookies + CSRF, 1.9.2-1.11.1 plain password and cookies, up to 1.9.1 bearer tokens "
        f"(default {DEFAULT_DIFY_VERSION})",
    )
    parser.add_argument("--email", default=None, help="email that logs in (default: the owner's, with --password)")
    parser.add_argument("--password", default=None, help="password that logs in (enables email/password login)")
    parser.add_argument(
        "--access-token-ttl",
        type=float,
        default=ACCESS_TOKEN_TTL,
        help=f"seconds an access token lives (default {ACCESS_TOKEN_TTL:.0f})",
    )
    parser.add_argument(
        "--refresh-token-ttl",
        type=float,
        default=REFRESH_TOKEN_TTL,
        help=f"seconds a refresh token lives (default {REFRESH_TOKEN_TTL:.0f})",
    )
    parser.add_argument("--latency-ms", type=float, default=0.0, help="milliseconds to wait before each answer")
    parser.add_argument(
        "--max-parallel", type=int, default=None, help="answer at most this many requests at once (default: no limit)"
    )
    parser.add_argument(
        "--fault",
        type=_fault,
        action="append",
        default=[],
        metavar="SPEC",
        help="inject a fault (repeatable; grammar below)",
    )


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date as YYYY-MM-DD, got {value!r}") from None


def _fault(value: str) -> FaultSpec:
    try:
        return FaultSpec.parse(value)
    except FaultSpecError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def serve(args: argparse.Namespace) -> int:
    try:
        if args.email and not args.password:
            raise ValueError("--email needs --password")
        workspace = generate_workspace(
            args.seed, args.start_date, args.days, account_timezone=args.account_timezone, scale=args.scale
        )
        simulator = DifySimulator(
            workspace,
            api_key=args.api_key,
            workspace_id=args.workspace_id,
            host=args.host,
            port=args.port,
            dify_version=args.dify_version,
            email=args.email,
            password=args.password,
            access_token_ttl=args.access_token_ttl,
            refresh_token_ttl=args.refresh_token_ttl,
            latency_ms=args.latency_ms,
            max_parallel=args.max_parallel,
            faults=args.fault,
        )
        simulator.start()
    except (ValueError, OSError) as error:
        print(f"dify simulator: {error}", file=sys.stderr)
        return 2
    for line in _environment(simulator):
        print(line)
    print(
        f"# Dify {simulator.dify_version}; {workspace.summary()}; owner timezone {workspace.owner.timezone}; "
        f"latency {args.latency_ms:g} ms; {len(args.fault)} fault(s). Ctrl-C stops.",
        flush=True,
    )
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        simulator.stop()
    return 0


def _environment(simulator: DifySimulator) -> list[str]:
    """The exporter's environment for this simulator: email/password when login is on, else the admin key."""
    lines = [f"DIFY_API_URL={simulator.base_url}"]
    if simulator.email:
        return [
            *lines,
            f"DIFY_EMAIL={simulator.email}",
            f"DIFY_PASSWORD={simulator.password}",
            f"# the admin key works too: DIFY_API_KEY={simulator.api_key} DIFY_WORKSPACE_ID={simulator.workspace_id}",
        ]
    return [*lines, f"DIFY_API_KEY={simulator.api_key}", f"DIFY_WORKSPACE_ID={simulator.workspace_id}"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dify_meter.sandbox.dify.cli",
        description=__doc__,
        epilog=FAULT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(parser)
    return serve(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
