"""A staged fetch forgets the events of a span of time it reads again (`StagedWindow.drop_window`), so a source
that retries a day hands its events over once."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from dify_meter.core.event import UsageEvent
from dify_meter.core.store import DuckDBStore
from dify_meter.usage.raw_events import STAGING_TABLE, StagedWindow
from dify_meter_tests.support.events import make_event, stored_events

DAY = date(2026, 6, 2)
LO = datetime(2026, 6, 2, 6, tzinfo=UTC)
HI = datetime(2026, 6, 2, 18, tzinfo=UTC)


def event_at(event_id: str, occurred_at: datetime) -> UsageEvent:
    return make_event(event_id, occurred_at.date(), occurred_at=occurred_at)


def test_the_events_of_the_span_go_and_the_rest_are_committed_once_with_the_span_read_again(tmp_path) -> None:
    store = DuckDBStore(tmp_path / "m.duckdb")
    staged = StagedWindow.begin(store, DAY, DAY + timedelta(days=1))
    second = timedelta(seconds=1)
    in_span = [event_at("at-lo", LO), event_at("inside", LO + timedelta(hours=3)), event_at("last", HI - second)]
    outside = [event_at("before", LO - second), event_at("at-hi", HI), event_at("next-day", HI + timedelta(hours=7))]
    staged.write(in_span[:2] + outside[:1])
    staged.write(in_span[2:] + outside[1:])
    other_fetch = StagedWindow.begin(store, DAY, DAY)
    other_fetch.write([event_at("other-fetch", LO + timedelta(hours=1))])

    assert staged.drop_window(LO, HI) == 3
    assert staged.drop_window(LO, HI) == 0
    staged.write(in_span)  # the span read again
    assert staged.commit() == 6
    assert sorted(event.event_id for event in stored_events(store)) == sorted(e.event_id for e in in_span + outside)
    with store.connect() as conn:
        assert conn.execute(f"SELECT event_id FROM {STAGING_TABLE}").fetchall() == [("other-fetch",)]


def test_a_naive_bound_is_refused(tmp_path) -> None:
    staged = StagedWindow.begin(DuckDBStore(tmp_path / "m.duckdb"), DAY, DAY)
    staged.write([event_at("kept", LO)])
    with pytest.raises(ValueError, match="timezone-aware"):
        staged.drop_window(LO.replace(tzinfo=None), HI)
    assert staged.commit() == 1
