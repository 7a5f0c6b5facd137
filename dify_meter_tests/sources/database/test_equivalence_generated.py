"""One generator, two views: the simulator's generated workspace served over the console API and written into
Dify's real schema as rows; both sources give the same events except the documented differences."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg
import pytest

from dify_meter.core.event import UsageEvent
from dify_meter.sandbox.dify.generate import generate_workspace
from dify_meter.sandbox.dify.pg_rows import write_workspace
from dify_meter.sandbox.dify.server import DifySimulator
from dify_meter.sources.console.client import DifyClient
from dify_meter_tests.sources.database.support import read_database
from dify_meter_tests.support.console import NO_WAIT, assert_same_events, fetch_events
from dify_meter_tests.support.postgres import EmbeddedPostgres

pytestmark = pytest.mark.integration

FALL_BACK = date(2026, 10, 30)  # New York leaves DST on Sunday 2026-11-01
DAYS = 4
CASES = [  # seed, Dify version of the schema, timezone of the days
    (7, "1.12.1", "America/New_York"),
    (11, "1.14.1", "Asia/Tokyo"),
    (23, "1.16.1", "UTC"),
]


def window(timezone: str) -> tuple[datetime, datetime]:
    """From the day before the generated days (the carried-over conversations) to their end, across the DST change."""
    zone = ZoneInfo(timezone)
    first, last = FALL_BACK - timedelta(days=1), FALL_BACK + timedelta(days=DAYS)
    return datetime.combine(first, datetime.min.time(), zone), datetime.combine(last, datetime.min.time(), zone)


@pytest.mark.parametrize(("seed", "version", "timezone"), CASES)
def test_both_sources_agree_on_a_generated_workspace(
    postgres: EmbeddedPostgres, seed: int, version: str, timezone: str
) -> None:
    workspace = generate_workspace(seed, FALL_BACK, DAYS)
    url = postgres.database(version, seeded=False)
    with psycopg.connect(url) as connection:
        written = write_workspace(connection, workspace)
    assert written["workflow_node_executions"] > 100 and written["messages"] > 100
    with DifySimulator(workspace, api_key="k") as dify:
        dify.set_now(datetime(2026, 12, 1, tzinfo=UTC))
        with DifyClient(
            dify.base_url, api_key="k", workspace_id=dify.workspace_id, timeout=10, retry=NO_WAIT
        ) as client:
            console = fetch_events(client, *window(timezone), timezone=timezone).events
    database = read_database(url, workspace.tenant.id, window(timezone), timezone)
    assert {event.app_mode for event in console} == {"chat", "agent-chat", "completion", "advanced-chat", "workflow"}
    assert_same_events(database.events, documented_differences(console, database.events, database.facts))


def documented_differences(
    console: list[UsageEvent], database: list[UsageEvent], facts: dict[str, UsageEvent]
) -> list[UsageEvent]:
    """The console events as the database source is documented to improve them; each difference must occur."""
    by_id = {event.event_id: event for event in database}
    expected, occurred = [], set()
    for event in console:
        theirs = by_id.get(event.event_id)
        if theirs is not None and facts[event.event_id].price_source == "message_row" and not event.priced:
            # 1. a message without usage metadata: unpriced on the console, the row's real price here
            event = dataclasses.replace(event, cost=theirs.cost, currency=theirs.currency, priced=theirs.priced)
            occurred.add("priced from the message row")
        expected.append(event)
    assert occurred == {"priced from the message row"}
    return expected
