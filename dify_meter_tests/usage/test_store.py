from __future__ import annotations

import dataclasses
import multiprocessing
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from dify_meter.core.store import DuckDBStore, StoreLockedError
from dify_meter.sources.console.details import ConversationDetail
from dify_meter.sources.console.duckdb_detail_cache import DuckDBDetailCache
from dify_meter.usage.raw_events import replace_window, summarize_window
from dify_meter_tests.support.events import make_event
from dify_meter_tests.support.locks import hold_write_lock

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


def test_detail_cache_round_trip(tmp_path):
    cache = DuckDBDetailCache(DuckDBStore(tmp_path / "m.duckdb"))
    detail = ConversationDetail(
        app_id="app-1", conversation_id="c1", provider="openai", model="gpt-4o-mini",
        detail_updated_at=datetime(2026, 11, 28, 1, 2, 3, tzinfo=UTC),
        read_at=datetime(2026, 11, 28, 1, 2, 4, tzinfo=UTC),
        completion_message={"id": "m1", "message_tokens": 3},
    )
    cache.put_details([detail])
    assert cache.get_details(["c1", "c2"]) == {"c1": detail}
    assert cache.get_details([]) == {}


def test_lock_held_by_another_process_is_a_clear_error(tmp_path):
    path = tmp_path / "m.duckdb"
    with DuckDBStore(path).connect():
        pass
    ctx = multiprocessing.get_context("spawn")
    ready, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=hold_write_lock, args=(str(path), ready, release))
    holder.start()
    try:
        assert ready.wait(30)
        with pytest.raises(StoreLockedError, match="locked by another process"), \
                DuckDBStore(path, lock_wait_seconds=0.3).connect():
            pass
        with pytest.raises(StoreLockedError), DuckDBStore(path).connect_read_only():
            pass
    finally:
        release.set()
        holder.join(30)
    with DuckDBStore(path).connect_read_only() as conn:
        assert conn.execute("SELECT count(*) FROM raw_usage_events").fetchone() == (0,)


def test_detail_cache_stores_many_at_once_and_a_second_put_replaces(tmp_path):
    cache = DuckDBDetailCache(DuckDBStore(tmp_path / "m.duckdb"))
    read_at = datetime(2026, 11, 28, 1, 0, tzinfo=UTC)
    details = [
        ConversationDetail(app_id="app-1", conversation_id=f"c{i}", provider=None if i % 3 else "openai",
                           model=f"m{i}", detail_updated_at=None if i % 2 else read_at, read_at=read_at,
                           completion_message=None if i % 2 else {"id": f"msg{i}"})
        for i in range(50)
    ]
    cache.put_details(details)
    cache.put_details([dataclasses.replace(details[0], model="changed")])
    stored = cache.get_details(f"c{i}" for i in range(50))
    assert stored == {d.conversation_id: d for d in [dataclasses.replace(details[0], model="changed"), *details[1:]]}
