"""raw_usage_events, as the asset fills it (collect.refresh_raw_usage), equals the simulator's ground truth."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from dify_meter.core.store import DuckDBStore
from dify_meter.sandbox.dify.generate import generate_workspace
from dify_meter.sandbox.dify.server import DifySimulator
from dify_meter.sources.console.errors import DifyError
from dify_meter_tests.support.console import ScriptedSimulator, assert_same_events
from dify_meter_tests.support.events import day_window, stored_events
from dify_meter_tests.support.settings import refresh_raw, settings_for

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("timezone", "first", "last"),
    [
        ("UTC", date(2026, 6, 2), date(2026, 6, 4)),
        ("Asia/Tokyo", date(2026, 6, 2), date(2026, 6, 4)),
        ("America/New_York", date(2026, 10, 31), date(2026, 11, 2)),  # 25-hour day on Nov 1
        ("America/New_York", date(2026, 3, 7), date(2026, 3, 9)),  # 23-hour day on Mar 8
    ],
)
def test_raw_usage_of_a_range_equals_the_ground_truth(tmp_path, timezone, first, last):
    workspace = generate_workspace(seed=11, start_date=first - timedelta(days=2), days=(last - first).days + 4)
    store = DuckDBStore(tmp_path / "m.duckdb")
    start, end = day_window(first, last, timezone)
    with DifySimulator(workspace) as simulator:
        refresh = refresh_raw(settings_for(simulator, store, timezone), store, start, end)
    truth = workspace.ground_truth(start, end, timezone)
    assert truth, "the generated workspace must have usage in the window"
    assert_same_events(stored_events(store), truth)
    assert (refresh.first_day, refresh.last_day) == (first, last)
    assert refresh.summary.events == len(truth)
    assert {day for day, _, _ in refresh.summary.per_day} == {first + timedelta(days=i) for i in range(3)}


def test_rematerializing_is_idempotent_and_reads_no_detail_twice(tmp_path):
    first = date(2026, 6, 2)
    workspace = generate_workspace(seed=5, start_date=first - timedelta(days=1), days=3)
    store = DuckDBStore(tmp_path / "m.duckdb")
    start, end = day_window(first, first, "UTC")
    with DifySimulator(workspace) as simulator:
        settings = settings_for(simulator, store, "UTC")
        first_run = refresh_raw(settings, store, start, end)
        rows_after_first = sorted(stored_events(store), key=lambda e: e.event_id)
        second_run = refresh_raw(settings, store, start, end)
        reads = simulator.detail_reads
    assert first_run.read.counts["detail_reads"] > 0 and second_run.read.counts["detail_reads"] == 0
    assert reads and max(reads.values()) == 1, "a conversation detail was read twice"
    assert sorted(stored_events(store), key=lambda e: e.event_id) == rows_after_first


def test_a_fetch_failing_part_way_leaves_the_previous_rows(tmp_path):
    first = date(2026, 6, 2)
    workspace = generate_workspace(seed=5, start_date=first - timedelta(days=1), days=3)
    store = DuckDBStore(tmp_path / "m.duckdb")
    start, end = day_window(first, first, "UTC")
    with ScriptedSimulator(workspace) as simulator:
        settings = settings_for(simulator, store, "UTC")
        refresh_raw(settings, store, start, end)
        before = stored_events(store)
        served = len(simulator.request_log)
        simulator.fail = lambda method, path, args: (
            (400, {"code": "invalid_param", "message": "boom"})  # not retried: the run stops here
            if len(simulator.request_log) > served + 20
            else None
        )
        with pytest.raises(DifyError):
            refresh_raw(settings, store, start, end)
    assert before and sorted(stored_events(store), key=lambda e: e.event_id) == sorted(before, key=lambda e: e.event_id)
