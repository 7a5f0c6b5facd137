"""NUMERIC prices, JSON price text and Dify's naive UTC timestamps arrive exactly (never through float)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import psycopg
import pytest

from dify_meter_tests.sources.database.support import read_database
from dify_meter_tests.support.postgres import TENANT_ID, EmbeddedPostgres

pytestmark = pytest.mark.integration

NOV_10 = (datetime(2026, 11, 10, tzinfo=UTC), datetime(2026, 11, 11, tzinfo=UTC))
MESSAGE = "d1000000-0000-4000-8000-000000000001"
NODE = "71000000-0000-4000-8000-000000000008"
RUN = "f1000000-0000-4000-8000-000000000001"


def test_tiny_and_large_prices_and_sub_second_times(postgres: EmbeddedPostgres) -> None:
    url = postgres.database("1.14.1")
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(
            "UPDATE messages SET total_price = 0.0000001, currency = 'USD', message_metadata = NULL WHERE id = %s",
            [MESSAGE],
        )
        admin.execute(
            "UPDATE workflow_node_executions SET execution_metadata = "
            '\'{"total_tokens": 1, "total_price": 98765432109876.123456789012, "currency": "EUR"}\' '
            "WHERE id = %s",
            [NODE],
        )
        admin.execute("UPDATE workflow_runs SET created_at = '2026-11-10 16:00:00.999999' WHERE id = %s", [RUN])
    read = read_database(url, TENANT_ID, NOV_10, "UTC")
    events = {event.event_id: event for event in read.events}
    assert (events[MESSAGE].cost, events[MESSAGE].priced) == (Decimal("0.0000001"), True)
    assert read.facts[MESSAGE].price_source == "message_row"
    assert (events[NODE].cost, events[NODE].currency) == (Decimal("98765432109876.123456789012"), "EUR")
    # the console API gives Unix seconds: the database source truncates the same way
    assert events[NODE].occurred_at == datetime(2026, 11, 10, 16, 0, 0, tzinfo=UTC)
