"""The database source on a real hot standby: a replica behind the window's end fails the day and keeps its
rows, and a "conflict with recovery" in the middle of a day's read retries the day without doubling an event."""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
import pytest

from dify_meter.core.event import UsageEvent
from dify_meter.core.source import EventSink, SourceReport
from dify_meter.core.store import DuckDBStore
from dify_meter.sources.database.errors import DatabaseSourceError, ReplicaLagError
from dify_meter.sources.database.reader import BATCH_SIZE, _conflict_with_recovery
from dify_meter.sources.database.replica import ASYNC_COMMIT_MARGIN
from dify_meter.sources.database.sessions import DatabaseTarget
from dify_meter.sources.database.source import DatabaseSource
from dify_meter.usage.refresh import refresh_raw_usage
from dify_meter_tests.sources.database.replica import HotStandby, replicated_postgres
from dify_meter_tests.sources.database.support import read_database
from dify_meter_tests.support.console import assert_same_events
from dify_meter_tests.support.events import stored_events
from dify_meter_tests.support.postgres import TENANT_ID

pytestmark = pytest.mark.integration

UTC_ZONE = ZoneInfo("UTC")
NOV_10 = (datetime(2026, 11, 10, tzinfo=UTC), datetime(2026, 11, 11, tzinfo=UTC))
SUPPORT_CHAT_MESSAGE = "d1000000-0000-4000-8000-000000000002"  # a priced chat message of Nov 10 in the seed
COPY_MESSAGE = (
    "CREATE TEMP TABLE copies AS SELECT m.* FROM messages m, generate_series(1, %(copies)s) WHERE m.id = %(id)s",
    "UPDATE copies SET id = gen_random_uuid(), created_at = %(created_at)s",
    "INSERT INTO messages SELECT * FROM copies RETURNING id",
)


@pytest.fixture(scope="module")
def standby() -> Iterator[HotStandby]:
    """Started once for this module's tests and stopped after them; its primary is `standby.primary`."""
    with replicated_postgres() as standby:
        yield standby


def copy_message(url: str, created_at: datetime, copies: int = 1) -> list[str]:
    """Copies of a seeded message under new ids, written on the primary; their ids."""
    naive_utc = created_at.astimezone(UTC).replace(tzinfo=None)  # as Dify stores it
    params = {"copies": copies, "id": SUPPORT_CHAT_MESSAGE, "created_at": naive_utc}
    with psycopg.connect(url, autocommit=True) as primary:
        for statement in COPY_MESSAGE:
            cursor = primary.execute(statement, params)
        return [str(row[0]) for row in cursor.fetchall()]


def source_on(standby: HotStandby, url: str) -> DatabaseSource:
    return DatabaseSource(DatabaseTarget(standby.replica_url(url)), TENANT_ID, timezone="UTC")


def test_a_lagging_replica_fails_the_window_keeps_the_days_rows_and_reads_it_once_caught_up(
    standby: HotStandby, tmp_path: Path
) -> None:
    """The replica check compares the last replayed commit with the window's end, so each window here ends
    between two commits on the primary: today, up to now."""
    url = standby.primary.database("1.16.1")
    store = DuckDBStore(tmp_path / "m.duckdb")
    source = source_on(standby, url)
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    first_end = datetime.now(UTC)
    (kept,) = copy_message(url, created_at=today)
    standby.catch_up()
    refresh_raw_usage(source, store, today, first_end, UTC_ZONE)
    assert [event.event_id for event in stored_events(store)] == [kept]

    standby.pause_replay()
    try:
        window = (today, datetime.now(UTC))  # ends after the last transaction the standby replayed
        (written_after,) = copy_message(url, created_at=today)
        with pytest.raises(ReplicaLagError) as raised:
            refresh_raw_usage(source, store, *window, UTC_ZONE)
        assert "read this day again later" in str(raised.value) and "DIFY_DATABASE_URL" in str(raised.value)
        assert [event.event_id for event in stored_events(store)] == [kept]
    finally:
        standby.resume_replay()

    standby.catch_up()
    refresh_raw_usage(source, store, *window, UTC_ZONE)
    stored = stored_events(store)
    assert {event.event_id for event in stored} == {kept, written_after}
    assert_same_events(stored, read_database(url, TENANT_ID, window, "UTC").events)


@dataclass
class ConflictOnFirstWrite:
    """An `EventSink` handing events on to `sink`; after its first batch it runs `conflict` (which makes replay
    cancel the reader's snapshot) and records each window the reader asks it to forget."""

    sink: EventSink
    conflict: Callable[[], None]
    conflicted: bool = False
    dropped: list[tuple[datetime, datetime, int]] = field(default_factory=list)

    def write(self, events: Sequence[UsageEvent]) -> None:
        self.sink.write(events)
        if not self.conflicted:
            self.conflicted = True
            self.conflict()

    def drop_apps(self, app_ids: Collection[str]) -> int:
        return self.sink.drop_apps(app_ids)

    def drop_window(self, lo: datetime, hi: datetime) -> int:
        dropped = self.sink.drop_window(lo, hi)
        self.dropped.append((lo, hi, dropped))
        return dropped


@dataclass
class ConflictingRead:
    """A `UsageSource`: `source` reading into a `ConflictOnFirstWrite` around the pipeline's sink."""

    source: DatabaseSource
    conflict: Callable[[], None]
    sinks: list[ConflictOnFirstWrite] = field(default_factory=list)

    def read_window(self, window_start: datetime, window_end: datetime, sink: EventSink) -> SourceReport:
        self.sinks.append(ConflictOnFirstWrite(sink, self.conflict))
        return self.source.read_window(window_start, window_end, self.sinks[-1])


def test_a_conflict_with_recovery_mid_read_retries_the_day_and_stores_every_event_once(
    standby: HotStandby, tmp_path: Path
) -> None:
    url = standby.primary.database("1.16.1")
    # more events than one sink batch: the day's cursors are still open at the first write
    deleted, *_ = copy_message(url, created_at=datetime(2026, 11, 10, 14, 5, tzinfo=UTC), copies=BATCH_SIZE + 1000)
    with psycopg.connect(url, autocommit=True) as primary:
        primary.execute("UPDATE apps SET mode = 'rag-pipeline' WHERE name = 'Local Llama'")  # a skipped app
    standby.catch_up()

    def delete_and_vacuum() -> None:
        """Remove on the primary a row the standby's snapshot still sees; replaying that cancels the snapshot."""
        with psycopg.connect(url, autocommit=True) as primary:
            primary.execute("DELETE FROM messages WHERE id = %s", [deleted])
            primary.execute("VACUUM messages")
        standby.catch_up()

    store = DuckDBStore(tmp_path / "m.duckdb")
    source = ConflictingRead(source_on(standby, url), delete_and_vacuum)
    refresh = refresh_raw_usage(source, store, *NOV_10, UTC_ZONE)

    primary_read = read_database(url, TENANT_ID, NOV_10, "UTC")
    stored = stored_events(store)
    assert_same_events(stored, primary_read.events)  # every event once, as the primary has them now
    assert deleted not in {event.event_id for event in stored} and len(stored) > BATCH_SIZE + 1000
    (sink,) = source.sinks
    ((lo, hi, dropped),) = sink.dropped  # the conflict came mid-day: the day was forgotten and read again, once
    assert (lo, hi) == NOV_10 and dropped > 0
    assert refresh.read.event_count == len(stored) and refresh.read.counts["days_read"] == 1
    assert refresh.read.counts["database_queries"] > primary_read.result.queries
    assert [app.app_name for app in refresh.read.skipped_apps] == ["Local Llama"]  # not once per attempt


def test_a_connection_lost_without_a_reason_counts_as_a_conflict_only_on_a_replica(standby: HotStandby) -> None:
    """A replica ends a session idle between two cursor fetches ("terminating connection due to conflict with
    recovery"); that message can be lost with the connection (in about one of ten runs of the test above, the
    reader saw only "server closed the connection unexpectedly"). On a primary a lost connection fails the day."""
    url = standby.primary.database("1.16.1")
    standby.catch_up()
    lost = psycopg.OperationalError("consuming input failed: server closed the connection unexpectedly")
    assert lost.sqlstate is None
    on_standby, on_primary = DatabaseTarget(standby.replica_url(url)), DatabaseTarget(url)
    assert _conflict_with_recovery(on_standby, lost)
    assert not _conflict_with_recovery(on_primary, lost)
    with pytest.raises(DatabaseSourceError) as wrapped:
        try:
            raise lost
        except psycopg.OperationalError:
            raise DatabaseSourceError("query messages failed") from None  # as the reader wraps it
    assert _conflict_with_recovery(on_standby, wrapped.value)
    assert not _conflict_with_recovery(on_standby, DatabaseSourceError("runs without node executions"))


def test_a_current_replica_of_an_idle_dify_reads_the_window_and_a_role_that_cannot_tell_is_told_why(
    standby: HotStandby, tmp_path: Path
) -> None:
    """Nothing committed after the window: the last replayed commit is older than its end, yet the replica is
    current, as the primary's WAL sender says in each keepalive (sent every half wal_sender_timeout)."""
    with standby.primary.admin() as primary:
        primary.execute("ALTER SYSTEM SET wal_sender_timeout = '2s'")
        primary.execute("SELECT pg_reload_conf()")
    url = standby.primary.database("1.16.1")
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    (written,) = copy_message(url, created_at=today)
    standby.catch_up()
    window = (today, datetime.now(UTC))
    with standby.admin() as replica:
        keepalive_after = "SELECT last_msg_send_time > %s FROM pg_stat_wal_receiver"
        while replica.execute(keepalive_after, [window[1] + ASYNC_COMMIT_MARGIN]).fetchone() != (True,):
            time.sleep(0.1)  # the pytest timeout bounds this wait
    store = DuckDBStore(tmp_path / "m.duckdb")
    refresh_raw_usage(source_on(standby, url), store, *window, UTC_ZONE)
    assert [event.event_id for event in stored_events(store)] == [written]

    read_only = standby.replica_url(standby.primary.grant_read_only_role(url))
    standby.catch_up()
    limited = DatabaseSource(DatabaseTarget(read_only), TENANT_ID, timezone="UTC")
    after_the_grants = (today, datetime.now(UTC))  # the GRANT script's commits are older than its end
    with pytest.raises(ReplicaLagError, match="GRANT pg_read_all_stats"):
        refresh_raw_usage(limited, DuckDBStore(tmp_path / "limited.duckdb"), *after_the_grants, UTC_ZONE)
