"""Usage events of a window read from Dify's PostgreSQL: the database source (docs/dify-database.md).

Each local day of the window is read in its own snapshot by two connections in parallel (messages and half
of the day's workflow runs' nodes on one, the other half on the other), with a fixed number of queries per day
whatever the number of conversations or runs. Events reach the sink in batches as rows stream from
server-side cursors, so memory stays bounded.
A day that cannot be read exactly raises `DatabaseSourceError` before its end, so the caller's staging
of that day is dropped and the day's previous rows stay untouched.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import psycopg
from psycopg.rows import dict_row

from dify_meter.core.app_modes import ADVANCED_CHAT, COMPLETION, MESSAGE_MODES, NO_LLM_MODES, USAGE_MODES, WORKFLOW
from dify_meter.core.event import UsageEvent
from dify_meter.core.skipped_app import SkippedApp
from dify_meter.sources.database.errors import DatabaseSourceError
from dify_meter.sources.database.queries import query
from dify_meter.sources.database.replica import check_replica
from dify_meter.sources.database.rows import (
    NodeWithoutSplit,
    app_log_user,
    conversation_user,
    message_event,
    node_event,
    utc_seconds,
)
from dify_meter.sources.database.sessions import DatabaseTarget, checked_tenant, connect, day_snapshot

CURSOR_ROWS = 2000  # rows per server-side cursor fetch
BATCH_SIZE = 50_000  # events per sink write: each write is a DuckDB connection and one columnar insert
RECOVERY_CONFLICT_RETRIES = 3  # a replica cancels a query that conflicts with replay: read the day again


class DatabaseEventSink(Protocol):
    def write(self, events: Sequence[UsageEvent]) -> None:
        """Take one batch of events (read_from, price_source, invoke_from and triggered_from set)."""

    def drop_window(self, lo: datetime, hi: datetime) -> int:
        """Forget the events handed over so far that occurred in [lo, hi) (a day read again); how many."""


@dataclass(slots=True)
class DatabaseReadResult:
    event_count: int = 0
    days_read: int = 0
    apps_read: int = 0
    queries: int = 0  # SQL statements sent (all days)
    workspace_name: str = ""
    skipped_apps: list[SkippedApp] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def read_usage_events(
    url: str,
    workspace_id: str,
    window_start: datetime,
    window_end: datetime,
    *,
    timezone: str,
    sink: DatabaseEventSink,
    statement_timeout_seconds: float = 300,
    lock_timeout_seconds: float = 5,
    connect_timeout_seconds: float = 10,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> DatabaseReadResult:
    """Hand `sink` every usage event whose time lies in [window_start, window_end), dated in `timezone`.

    `url` is a postgresql:// URL (secret: no message repeats its password); `workspace_id` the tenant id.
    """
    tenant_id = checked_tenant(workspace_id, window_start, window_end)
    zone = ZoneInfo(timezone)
    target = DatabaseTarget(url, statement_timeout_seconds, lock_timeout_seconds, connect_timeout_seconds)
    result = DatabaseReadResult()
    for lo, hi in day_windows(window_start, window_end, zone):
        for attempt in range(RECOVERY_CONFLICT_RETRIES + 1):
            event_count, warnings, skipped_apps = result.event_count, len(result.warnings), len(result.skipped_apps)
            try:
                _read_day(target, tenant_id, lo, hi, zone, sink, result, now)
                break
            except (psycopg.OperationalError, DatabaseSourceError) as exc:
                if not _conflict_with_recovery(target, exc):
                    raise
                if attempt == RECOVERY_CONFLICT_RETRIES:
                    raise target.error(f"day starting {lo.isoformat()} kept conflicting with recovery", exc) from None
                # The failed attempt's events are already in the sink and its findings in the result: forget
                # them, or the day read again would hand each over twice.
                sink.drop_window(lo, hi)
                result.event_count = event_count
                del result.warnings[warnings:], result.skipped_apps[skipped_apps:]
                time.sleep(0.5 * (attempt + 1))
        result.days_read += 1
    return result


def _conflict_with_recovery(target: DatabaseTarget, exc: Exception) -> bool:
    """A replica cancels a query that conflicts with replay (SQLSTATE 40001); a session idle between two fetches of
    a cursor it ends instead, and the client may then see only a closed connection, the server's reason lost: a
    lost connection to a server in recovery is taken for a conflict too."""
    # a DatabaseSourceError raised while handling a psycopg error keeps it as its context
    error = exc.__context__ if isinstance(exc, DatabaseSourceError) else exc
    if isinstance(error, psycopg.errors.SerializationFailure):
        return True
    if not isinstance(error, psycopg.OperationalError) or error.sqlstate is not None:
        return False
    try:
        with connect(target) as connection:
            row = connection.execute("SELECT pg_is_in_recovery()").fetchone()
    except (DatabaseSourceError, psycopg.Error):
        return False
    return row is not None and bool(row[0])


def day_windows(window_start: datetime, window_end: datetime, zone: ZoneInfo) -> Iterator[tuple[datetime, datetime]]:
    """[window_start, window_end) cut at local midnights (DST days are 23 or 25 hours long), in UTC."""
    day: date = window_start.astimezone(zone).date()
    while True:
        lo = datetime.combine(day, datetime.min.time(), zone).astimezone(UTC)
        hi = datetime.combine(day + timedelta(days=1), datetime.min.time(), zone).astimezone(UTC)
        lo, hi = max(lo, window_start.astimezone(UTC)), min(hi, window_end.astimezone(UTC))
        if lo >= window_end:
            return
        if lo < hi:
            yield lo, hi
        day += timedelta(days=1)


class _DayReader:
    """One day in one snapshot: the statements of each connection, and the events they yield."""

    def __init__(
        self,
        target: DatabaseTarget,
        tenant_id: str,
        lo: datetime,
        hi: datetime,
        zone: tzinfo,
        sink: DatabaseEventSink,
        result: DatabaseReadResult,
    ) -> None:
        self.target, self.zone, self.sink, self.result = target, zone, sink, result
        # Dify stores naive UTC; compare with naive values, never with a timestamptz (cast in the session zone)
        self.params: dict[str, Any] = {
            "tenant_id": tenant_id,
            "lo": lo.replace(tzinfo=None),
            "hi": hi.replace(tzinfo=None),
        }
        self.apps: dict[str, Mapping[str, Any]] = {}
        self.lock = threading.Lock()
        self.without_split: list[tuple[Mapping[str, Any], Mapping[str, Any]]] = []

    def rows(self, connection: psycopg.Connection, name: str, params: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
        with self.lock:
            self.result.queries += 1
        try:
            with connection.cursor(name=f"dify_meter_{name}", row_factory=dict_row) as cursor:
                cursor.itersize = CURSOR_ROWS
                cursor.execute(query(name), params)
                yield from cursor
        except psycopg.errors.SerializationFailure:
            raise
        except psycopg.errors.QueryCanceled as exc:
            raise self.target.error(
                f"query {name} hit the statement timeout ({self.target.statement_timeout_seconds:g} s)", exc
            ) from None
        except psycopg.Error as exc:
            raise self.target.error(f"query {name} failed", exc) from None

    def hand_over(self, events: list[UsageEvent], final: bool = False) -> list[UsageEvent]:
        if events and (final or len(events) >= BATCH_SIZE):
            with self.lock:
                self.sink.write(events)
                self.result.event_count += len(events)
            return []
        return events

    def messages(self, connection: psycopg.Connection) -> None:
        ids = self.app_ids(MESSAGE_MODES - {COMPLETION})  # completion apps have a query of their own
        completion = self.app_ids({COMPLETION})
        if not ids and not completion:
            return
        batch: list[UsageEvent] = []
        for row in self.rows(
            connection, "messages", {**self.params, "chat_app_ids": ids, "completion_app_ids": completion}
        ):
            batch.append(message_event(self.apps[row["app_id"]], row, self.zone))
            batch = self.hand_over(batch)
        self.hand_over(batch, final=True)

    def nodes(self, connection: psycopg.Connection, part: int) -> None:
        """The node events of one half (`part` 0 or 1, by a hash of the run id) of the day's workflow runs."""
        advanced_chat, workflow = self.app_ids({ADVANCED_CHAT}), self.app_ids({WORKFLOW})
        batch: list[UsageEvent] = []
        if advanced_chat:
            for row in self.rows(
                connection,
                "advanced_chat_nodes",
                {**self.params, "advanced_chat_app_ids": advanced_chat, "part": part},
            ):
                self.add_node(
                    batch,
                    row,
                    occurred_at=utc_seconds(row["created_at"]),
                    user=conversation_user(row),
                    conversation_id=row["conversation_id"],
                    message_id=row["message_id"],
                    invoke_from=row["message_invoke_from"] or row["conversation_invoke_from"],
                )
                batch = self.hand_over(batch)
        if workflow:
            for row in self.rows(
                connection, "workflow_nodes", {**self.params, "workflow_app_ids": workflow, "part": part}
            ):
                self.add_node(
                    batch,
                    row,
                    occurred_at=utc_seconds(row["created_at"]),
                    user=app_log_user(row),
                    conversation_id=None,
                    message_id=None,
                    invoke_from=None,
                )
                batch = self.hand_over(batch)
        self.hand_over(batch, final=True)

    def check_nodes(self, connection: psycopg.Connection) -> None:
        """After every part: ended runs without node rows fail the day, nodes without a split are judged."""
        advanced_chat, workflow = self.app_ids({ADVANCED_CHAT}), self.app_ids({WORKFLOW})
        if not advanced_chat and not workflow:
            return
        missing = list(
            self.rows(
                connection,
                "runs_without_nodes",
                {**self.params, "workflow_app_ids": workflow, "advanced_chat_app_ids": advanced_chat},
            )
        )
        if missing:
            runs = ", ".join(f"{row['workflow_run_id']} ({row['status']})" for row in missing[:5])
            raise DatabaseSourceError(
                f"{len(missing)} ended workflow run(s) of the day starting {self.params['lo']} UTC have no node "
                f"executions in PostgreSQL ({runs}); Dify may store them elsewhere (WORKFLOW_NODE_EXECUTION_STORAGE, "
                "a logstore) or they were archived: their usage cannot be read from the database"
            )
        self.check_without_split(connection)

    def has_nodes(self) -> bool:
        return bool(self.app_ids({ADVANCED_CHAT, WORKFLOW}))

    def add_node(self, batch: list[UsageEvent], row: Mapping[str, Any], **context: Any) -> None:
        app = self.apps[row["app_id"]]
        try:
            event = node_event(app, row, timezone=self.zone, warnings=self.result.warnings, **context)
        except NodeWithoutSplit:
            self.without_split.append((app, row))
            return
        if event is not None:
            batch.append(event)

    def check_without_split(self, connection: psycopg.Connection) -> None:
        """Nodes with tokens but no split: a truncated (offloaded) row fails the day, others are warned about."""
        if not self.without_split:
            return
        offloaded: set[str] = set()
        exists = connection.execute("SELECT to_regclass('public.workflow_node_execution_offload') IS NOT NULL")
        self.result.queries += 1
        if (row := exists.fetchone()) is not None and row[0]:
            ids = [node["node_execution_id"] for _, node in self.without_split]
            offloaded = {
                row["node_execution_id"]
                for row in self.rows(connection, "offloaded_nodes", {"node_execution_ids": ids})
            }
        if offloaded:
            raise DatabaseSourceError(
                f"{len(offloaded)} node execution(s) of the day starting {self.params['lo']} UTC were truncated and "
                f"offloaded to file storage without their usage split (e.g. {sorted(offloaded)[0]}): "
                "the database source cannot read file storage"
            )
        for app, node in self.without_split:
            self.result.warnings.append(
                f"{app['app_name']} ({app['app_id']}): node {node['node_execution_id']} ({node['node_type']}) of run "
                f"{node['workflow_run_id']} reports {node['metadata_tokens']} tokens but no usage split; not counted"
            )

    def app_ids(self, modes: frozenset[str] | set[str]) -> list[str]:
        return [app_id for app_id, app in self.apps.items() if app["app_mode"] in modes]


def _read_day(
    target: DatabaseTarget,
    tenant_id: str,
    lo: datetime,
    hi: datetime,
    zone: tzinfo,
    sink: DatabaseEventSink,
    result: DatabaseReadResult,
    now: Callable[[], datetime],
) -> None:
    day = _DayReader(target, tenant_id, lo, hi, zone, sink, result)
    with day_snapshot(target) as (messages_connection, nodes_connection):
        result.queries += 1
        check_replica(target, messages_connection, hi, now())
        apps = list(day.rows(messages_connection, "apps", day.params))
        if not apps:
            raise DatabaseSourceError(f"workspace {tenant_id} is not a tenant of this Dify database (tenants.id)")
        result.workspace_name = apps[0]["tenant_name"]
        for app in apps:
            if app["app_id"] is None:
                continue
            if app["app_mode"] in USAGE_MODES:
                day.apps[app["app_id"]] = app
            elif result.days_read == 0:
                result.skipped_apps.append(_skipped(app))
        if result.days_read == 0:
            result.apps_read = len(day.apps)
        # The node rows cost PostgreSQL the most (process_data is decompressed and parsed): each connection
        # reads half of the day's runs, the first one after the messages, so both cores stay busy.
        with ThreadPoolExecutor(max_workers=1) as pool:
            other_half = pool.submit(day.nodes, nodes_connection, 1) if day.has_nodes() else None
            day.messages(messages_connection)
            if day.has_nodes():
                day.nodes(messages_connection, 0)
            if other_half is not None:
                other_half.result()
        day.check_nodes(messages_connection)


def _skipped(app: dict[str, Any]) -> SkippedApp:
    """Why an app is not read: quietly for a mode known to make no LLM calls, never for an unknown one."""
    mode = app["app_mode"]
    if mode in NO_LLM_MODES:
        return SkippedApp(
            app["app_id"], app["app_name"], mode, f"mode {mode!r} makes no LLM calls that Dify reports as usage"
        )
    return SkippedApp(
        app["app_id"],
        app["app_name"],
        mode,
        f"mode {mode!r} is not known to this exporter: its usage is not read",
        unread_usage=True,
    )
