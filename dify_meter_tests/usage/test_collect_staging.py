"""Events staged in DuckDB batch by batch (raw_events.StagedWindow): moved into the window in one transaction,
only by their own fetch; a failed, doubled or killed fetch changes no stored row."""

from __future__ import annotations

import dataclasses
import signal
import subprocess
import sys
from collections.abc import Collection, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from dify_meter.core.event import UsageEvent
from dify_meter.core.store import DuckDBStore, StoreError
from dify_meter.sandbox.dify.generate import generate_workspace
from dify_meter.sandbox.dify.server import DifySimulator
from dify_meter.sources.console.client import DifyClient
from dify_meter.sources.console.duckdb_detail_cache import DuckDBDetailCache
from dify_meter.sources.console.errors import DifyError
from dify_meter.sources.console.events import fetch_usage_events
from dify_meter.usage.raw_events import STAGING_TABLE, StagedWindow
from dify_meter_tests.support.console import NO_WAIT, ScriptedSimulator, assert_same_events
from dify_meter_tests.support.events import day_window, make_event, stored_events
from dify_meter_tests.support.settings import refresh_raw, settings_for

DAY = date(2026, 6, 2)
REPO_ROOT = Path(__file__).resolve().parents[2]

# A process that stages one event of DAY for a fetch, then is killed before it could commit or discard.
KILLED_FETCH = """
import os, signal, sys
from datetime import date
from dify_meter.usage.raw_events import StagedWindow
from dify_meter.core.store import DuckDBStore
from dify_meter_tests.support.events import make_event
staged = StagedWindow.begin(DuckDBStore(sys.argv[1]), date(2026, 6, 2), date(2026, 6, 2))
staged.write([make_event("ghost-of-a-killed-fetch", date(2026, 6, 2))])
print(staged.fetch_id, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


class BatchCounting:
    """An EventSink that stages into `window` and remembers the size of every batch."""

    def __init__(self, window: StagedWindow) -> None:
        self.window = window
        self.batches: list[int] = []

    def write(self, events: Sequence[UsageEvent]) -> None:
        self.batches.append(len(events))
        self.window.write(events)

    def drop_apps(self, app_ids: Collection[str]) -> int:
        return self.window.drop_apps(app_ids)

    def drop_window(self, lo: datetime, hi: datetime) -> int:
        return self.window.drop_window(lo, hi)


def staging_rows(store: DuckDBStore) -> list[tuple[str, str]]:
    with store.connect() as conn:
        return conn.execute(f"SELECT fetch_id, event_id FROM {STAGING_TABLE} ORDER BY 2").fetchall()


def stored_ids(store: DuckDBStore) -> list[str]:
    return sorted(event.event_id for event in stored_events(store))


@pytest.mark.integration
def test_a_fetch_staged_in_many_batches_stores_exactly_the_ground_truth(tmp_path) -> None:
    workspace = generate_workspace(seed=5, start_date=DAY - timedelta(days=1), days=3)
    store = DuckDBStore(tmp_path / "m.duckdb")
    start, end = day_window(DAY, DAY, "UTC")
    staged = BatchCounting(StagedWindow.begin(store, DAY, DAY))
    with (
        DifySimulator(workspace) as dify,
        DifyClient(dify.base_url, api_key=dify.api_key, workspace_id=dify.workspace_id, retry=NO_WAIT) as client,
    ):
        result = fetch_usage_events(
            client, start, end, timezone="UTC", detail_cache=DuckDBDetailCache(store), sink=staged, batch_size=40
        )
    assert staged.window.commit() == result.event_count == sum(staged.batches)
    assert len(staged.batches) > 5 and max(staged.batches) == 40
    assert_same_events(stored_events(store), workspace.ground_truth(start, end, "UTC"))
    assert staging_rows(store) == []


@pytest.mark.integration
def test_a_fetch_failing_part_way_drops_its_staged_events(tmp_path) -> None:
    workspace = generate_workspace(seed=5, start_date=DAY - timedelta(days=1), days=3)
    store = DuckDBStore(tmp_path / "m.duckdb")
    start, end = day_window(DAY, DAY, "UTC")
    with ScriptedSimulator(workspace) as simulator:
        settings = settings_for(simulator, store, "UTC")
        refresh_raw(settings, store, start, end)
        before = stored_ids(store)
        # fail last: Dify's statistics are read once the fetch has staged all of its events
        simulator.fail = lambda method, path, args: (
            (400, {"code": "invalid_param", "message": "boom"}) if path.endswith("/token-costs") else None
        )
        with pytest.raises(DifyError):
            refresh_raw(settings, store, start, end)
    assert simulator.request_log[-1][1].endswith("/token-costs")
    assert stored_ids(store) == before
    assert staging_rows(store) == []


def test_doubled_events_are_rejected_and_leave_the_window_untouched(tmp_path) -> None:
    store = DuckDBStore(tmp_path / "m.duckdb")
    committed = StagedWindow.begin(store, DAY, DAY)
    committed.write([make_event("kept", DAY)])
    committed.commit()

    staged = StagedWindow.begin(store, DAY, DAY)
    staged.write([make_event("twice", DAY)])
    staged.write([make_event("other", DAY), make_event("twice", DAY)])  # the same id in another batch
    with pytest.raises(ValueError, match="event twice was collected 2 times in one fetch"):
        staged.commit()
    assert stored_ids(store) == ["kept"]
    staged.discard()
    assert staging_rows(store) == []


def test_an_event_outside_the_window_is_refused_when_staged(tmp_path) -> None:
    store = DuckDBStore(tmp_path / "m.duckdb")
    staged = StagedWindow.begin(store, DAY, DAY)
    with pytest.raises(ValueError, match="1 events fall outside 2026-06-02..2026-06-02"):
        staged.write([make_event("in", DAY), make_event("next-day", DAY + timedelta(days=1))])
    assert staging_rows(store) == []


def test_events_of_an_app_that_vanished_are_dropped_before_the_move(tmp_path) -> None:
    store = DuckDBStore(tmp_path / "m.duckdb")
    staged = StagedWindow.begin(store, DAY, DAY)
    staged.write([make_event("a1", DAY), make_event("gone1", DAY, app_id="app-gone")])
    staged.write([make_event("gone2", DAY, app_id="app-gone")])
    assert staged.drop_apps({"app-gone"}) == 2
    assert staged.commit() == 1
    assert stored_ids(store) == ["a1"]


def test_staged_rows_changed_by_another_process_stop_the_move(tmp_path) -> None:
    store = DuckDBStore(tmp_path / "m.duckdb")
    staged = StagedWindow.begin(store, DAY, DAY)
    staged.write([make_event("a", DAY), make_event("b", DAY)])
    with store.connect() as conn:
        conn.execute(f"DELETE FROM {STAGING_TABLE} WHERE event_id = 'b'")
    with pytest.raises(StoreError, match="staged 2 events but 1 are in raw_usage_events_staging"):
        staged.commit()
    assert stored_ids(store) == []


@pytest.mark.integration
def test_a_killed_fetch_leaves_staged_rows_no_later_fetch_moves_and_they_go_once_stale(tmp_path) -> None:
    workspace = generate_workspace(seed=5, start_date=DAY - timedelta(days=1), days=3)
    store = DuckDBStore(tmp_path / "m.duckdb")
    start, end = day_window(DAY, DAY, "UTC")
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_FETCH, str(store.path)],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO_ROOT,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    dead_fetch = killed.stdout.strip()
    assert staging_rows(store) == [(dead_fetch, "ghost-of-a-killed-fetch")]

    with DifySimulator(workspace) as simulator:
        refresh_raw(settings_for(simulator, store, "UTC"), store, start, end)
    assert_same_events(stored_events(store), workspace.ground_truth(start, end, "UTC"))
    assert staging_rows(store) == [(dead_fetch, "ghost-of-a-killed-fetch")]  # recent: it may still be running

    with store.connect() as conn:
        conn.execute(f"UPDATE {STAGING_TABLE} SET staged_at = ?", [datetime.now(UTC) - timedelta(hours=2)])
    StagedWindow.begin(store, DAY, DAY)
    assert staging_rows(store) == []


def test_staging_keeps_every_field_exactly(tmp_path) -> None:
    store = DuckDBStore(tmp_path / "m.duckdb")
    events: list[UsageEvent] = [
        make_event("exact", DAY, cost=Decimal("123456789.0123456789")),
        dataclasses.replace(
            make_event("node", DAY, source="node", node_type="llm", workflow_run_id="r1"),
            conversation_id=None,
            message_id=None,
            currency=None,
            priced=False,
            cost=Decimal(0),
        ),
    ]
    staged = StagedWindow.begin(store, DAY, DAY)
    staged.write(events)
    staged.commit()
    assert sorted(stored_events(store), key=lambda e: e.event_id) == sorted(events, key=lambda e: e.event_id)
