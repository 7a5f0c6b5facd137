"""The real anchor: the database source on each Dify version's recorded seed gives the console source's events."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from dify_meter_tests.sources.database.support import console_events, read_database
from dify_meter_tests.support.console import assert_same_events
from dify_meter_tests.support.postgres import TENANT_ID, EmbeddedPostgres

pytestmark = pytest.mark.integration

VERSIONS = ["1.12.1", "1.14.1", "1.16.1"]
NEW_YORK = ZoneInfo("America/New_York")
WINDOWS = {
    "nov-10-new-york": (
        "America/New_York",
        (datetime(2026, 11, 10, tzinfo=NEW_YORK), datetime(2026, 11, 11, tzinfo=NEW_YORK)),
    ),
    "nov-9-to-12-utc": (
        "UTC",
        (datetime(2026, 11, 9, tzinfo=ZoneInfo("UTC")), datetime(2026, 11, 12, tzinfo=ZoneInfo("UTC"))),
    ),
    "nov-10-to-12-tokyo": (
        "Asia/Tokyo",
        (datetime(2026, 11, 10, tzinfo=ZoneInfo("Asia/Tokyo")), datetime(2026, 11, 13, tzinfo=ZoneInfo("Asia/Tokyo"))),
    ),
}


# The documented difference on the recording, by event id: this message has no usage metadata, so the console
# calls it unpriced while its row holds the real price (docs/dify-database.md).
PRICED_FROM_ROW = {"d1000000-0000-4000-8000-000000000001": (Decimal("0.0007000"), "USD")}


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("window_name", WINDOWS)
def test_the_database_gives_the_console_events_except_the_documented_difference(
    postgres: EmbeddedPostgres, version: str, window_name: str
) -> None:
    timezone, window = WINDOWS[window_name]
    console = console_events(window, timezone)
    database = read_database(postgres.database(version), TENANT_ID, window, timezone)
    assert {event.app_mode for event in console} == {"chat", "agent-chat", "completion", "advanced-chat", "workflow"}
    expected = []
    for event in console:
        if event.event_id in PRICED_FROM_ROW:
            assert (event.cost, event.currency, event.priced) == (Decimal(0), None, False)
            price, currency = PRICED_FROM_ROW[event.event_id]
            event = dataclasses.replace(event, cost=price, currency=currency, priced=True)
        expected.append(event)
    assert_same_events(database.events, expected)
    from_row = {event_id for event_id, facts in database.facts.items() if facts.price_source == "message_row"}
    assert from_row == PRICED_FROM_ROW.keys() & {event.event_id for event in console}
    assert database.result.skipped_apps == [] and database.result.warnings == []
    assert {facts.read_from for facts in database.facts.values()} == {"database"}


def test_a_month_takes_the_same_queries_each_day_and_keeps_dify_facts(postgres: EmbeddedPostgres) -> None:
    utc = ZoneInfo("UTC")
    database = read_database(
        postgres.database("1.16.1"),
        TENANT_ID,
        (datetime(2026, 11, 1, tzinfo=utc), datetime(2026, 12, 1, tzinfo=utc)),
        "UTC",
    )
    assert database.result.days_read == 30
    assert database.result.queries == 30 * 8  # apps, replica state, messages, 2 x two node queries, runs without nodes
    assert len(database.events) == 27
    facts = database.facts
    assert facts["d1000000-0000-4000-8000-000000000001"].price_source == "message_row"
    assert {f.triggered_from for f in facts.values() if f.price_source == "node"} == {"app-run", "webhook"}
    assert {f.invoke_from for f in facts.values() if f.price_source != "node"} == {
        "service-api",
        "web-app",
        "explore",
        "debugger",
    }
