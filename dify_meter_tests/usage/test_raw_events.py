"""The raw usage events of a window in DuckDB: replaced whole, exactly, never twice."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from dify_meter.core.store import DuckDBStore
from dify_meter.usage.raw_events import replace_window, summarize_window
from dify_meter_tests.support.events import make_event

DAY1, DAY2 = date(2026, 11, 10), date(2026, 11, 11)


def stored_ids(store: DuckDBStore) -> list[tuple[str, date]]:
    with store.connect() as conn:
        return conn.execute("SELECT event_id, usage_date FROM raw_usage_events ORDER BY 1").fetchall()


def test_replace_window_replaces_only_that_window(tmp_path):
    store = DuckDBStore(tmp_path / "m.duckdb")
    with store.connect() as conn:
        replace_window(conn, DAY1, DAY2, [make_event("a", DAY1), make_event("b", DAY2)])
        replace_window(conn, DAY2, DAY2, [make_event("c", DAY2)])
    assert stored_ids(store) == [("a", DAY1), ("c", DAY2)]


def test_replace_is_idempotent_and_exact(tmp_path):
    store = DuckDBStore(tmp_path / "m.duckdb")
    events = [make_event(f"e{i}", DAY1, cost=Decimal("0.0000001") * i) for i in range(1201)]
    for _ in range(2):
        with store.connect() as conn:
            replace_window(conn, DAY1, DAY1, events)
    with store.connect() as conn:
        summary = summarize_window(conn, DAY1, DAY1)
    assert summary.events == 1201
    assert summary.total_tokens == 1201 * 120
    assert summary.cost_by_currency == {"USD": sum((e.cost for e in events), Decimal(0))}


def test_failed_replace_leaves_previous_rows(tmp_path):
    store = DuckDBStore(tmp_path / "m.duckdb")
    with store.connect() as conn:
        replace_window(conn, DAY1, DAY1, [make_event("old", DAY1)])
        duplicated = [make_event("x", DAY1), make_event("x", DAY1)]
        with pytest.raises(ValueError, match="collected 2 times"):
            replace_window(conn, DAY1, DAY1, duplicated)
        with pytest.raises(ValueError, match="outside"):
            replace_window(conn, DAY1, DAY1, [make_event("y", DAY2)])
    assert stored_ids(store) == [("old", DAY1)]


def test_event_moving_to_another_day_is_not_stored_twice(tmp_path):
    store = DuckDBStore(tmp_path / "m.duckdb")
    with store.connect() as conn:
        replace_window(conn, DAY1, DAY1, [make_event("a", DAY1)])
        replace_window(conn, DAY2, DAY2, [make_event("a", DAY2)])
    assert stored_ids(store) == [("a", DAY2)]


def test_timestamps_and_money_round_trip_exactly(tmp_path):
    store = DuckDBStore(tmp_path / "m.duckdb")
    event = make_event("a", DAY1, cost=Decimal("123456789.0123456789"))
    with store.connect() as conn:
        replace_window(conn, DAY1, DAY1, [event])
        occurred_at, cost = conn.execute("SELECT occurred_at, cost FROM raw_usage_events").fetchone()
    assert occurred_at == event.occurred_at and occurred_at.utcoffset().total_seconds() == 0
    assert cost == event.cost
