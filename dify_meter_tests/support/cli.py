"""Running the CLI in-process, the days the CLI tests export, and the totals the CLI prints."""

from __future__ import annotations

import re
import socket
from collections import Counter
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from dify_meter.cli.main import main
from dify_meter.core.event import UsageEvent
from dify_meter_tests.support.events import day_window

SAT, SUN, MON = date(2026, 6, 6), date(2026, 6, 7), date(2026, 6, 8)
TODAY = datetime.now(ZoneInfo("UTC")).date()


def exit_code(argv: list[str]) -> int:
    """main()'s exit code, also when argparse exits on a usage error."""
    try:
        return main(argv)
    except SystemExit as exit_info:
        return int(exit_info.code or 0)


def truth(workspace, first: date, last: date) -> list[UsageEvent]:
    return workspace.ground_truth(*day_window(first, last, "UTC"), "UTC")


def truth_costs(events: list[UsageEvent]) -> dict[str, Decimal]:
    costs: Counter[str] = Counter()
    for event in events:
        if event.priced:
            costs[event.currency or "USD"] += event.cost
    return dict(costs)


def printed_totals(out: str) -> list[tuple[int, int, dict[str, Decimal]]]:
    """(requests, total tokens, cost per currency) of each `Total:` line."""
    found = []
    for line in re.findall(r"^Total: .*$", out, flags=re.MULTILINE):
        requests, tokens = re.match(r"Total: ([\d,]+) requests, ([\d,]+) tokens", line).groups()
        costs = {currency: Decimal(amount) for amount, currency in re.findall(r"([\d.]+) ([A-Z]{3})", line)}
        found.append((int(requests.replace(",", "")), int(tokens.replace(",", "")), costs))
    return found


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run_check(capsys) -> tuple[int, str]:
    code = exit_code(["check"])
    captured = capsys.readouterr()
    return code, captured.out + captured.err
