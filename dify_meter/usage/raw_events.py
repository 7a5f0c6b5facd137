"""The raw_usage_events table: replace a window of days atomically, and summarize it.

A fetch stages its events in raw_usage_events_staging batch by batch (`StagedWindow`), each batch in
its own short connection, and moves them into the window in one transaction at the end.
"""

from __future__ import annotations

import operator
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import duckdb

from dify_meter.core.bulk_insert import insert_columns
from dify_meter.core.event import EVENT_COLUMNS, UsageEvent
from dify_meter.core.store import DuckDBStore, StoreError, transaction

STAGING_TABLE = "raw_usage_events_staging"
_event_row = operator.attrgetter(*EVENT_COLUMNS)  # UsageEvent.as_row() without astuple's deep copies: 70x faster
_STAGED_COLUMNS = ("fetch_id", *EVENT_COLUMNS)
# One fetch runs at a time (Dagster's duckdb pool): rows of another fetch untouched for this long belong
# to a process that died, and are deleted. Were they a live fetch's after all, its commit would fail on
# the count of its rows, never store fewer.
STALE_STAGING = timedelta(hours=1)


def _check_window(events: Sequence[UsageEvent], first_day: date, last_day: date) -> None:
    outside = [e.event_id for e in events if not first_day <= e.usage_date <= last_day]
    if outside:
        raise ValueError(f"{len(outside)} events fall outside {first_day}..{last_day}, e.g. {outside[0]}")


def _stage(conn: duckdb.DuckDBPyConnection, fetch_id: str, events: Sequence[UsageEvent]) -> None:
    insert_columns(conn, STAGING_TABLE, _STAGED_COLUMNS, [(fetch_id, *_event_row(event)) for event in events])


def _move_into_window(
    conn: duckdb.DuckDBPyConnection, fetch_id: str, first_day: date, last_day: date, expected: int
) -> None:
    """Inside the caller's transaction: the window's rows (and any row with a staged event's id) become
    exactly the fetch's staged events."""
    duplicate = conn.execute(
        f"SELECT event_id, count(*) FROM {STAGING_TABLE} WHERE fetch_id = ? "
        "GROUP BY event_id HAVING count(*) > 1 LIMIT 1",
        [fetch_id],
    ).fetchone()
    if duplicate:
        raise ValueError(f"event {duplicate[0]} was collected {duplicate[1]} times in one fetch")
    staged = conn.execute(f"SELECT count(*) FROM {STAGING_TABLE} WHERE fetch_id = ?", [fetch_id]).fetchone()
    if staged is None or staged[0] != expected:
        raise StoreError(
            f"fetch {fetch_id} staged {expected} events but {staged[0] if staged else 0} are in {STAGING_TABLE}: "
            "another process changed them. Run one dify-meter or Dagster run at a time, then retry."
        )
    # Rows elsewhere with the same event_id go too (e.g. a DIFY_TIMEZONE change moved an event to another
    # day), so an event is never stored twice.
    conn.execute(
        "DELETE FROM raw_usage_events WHERE usage_date BETWEEN ? AND ? "
        f"OR event_id IN (SELECT event_id FROM {STAGING_TABLE} WHERE fetch_id = ?)",
        [first_day, last_day, fetch_id],
    )
    conn.execute(
        f"INSERT INTO raw_usage_events ({', '.join(EVENT_COLUMNS)}) "
        f"SELECT {', '.join(EVENT_COLUMNS)} FROM {STAGING_TABLE} WHERE fetch_id = ?",
        [fetch_id],
    )
    conn.execute(f"DELETE FROM {STAGING_TABLE} WHERE fetch_id = ?", [fetch_id])


def replace_window(
    conn: duckdb.DuckDBPyConnection, first_day: date, last_day: date, events: Sequence[UsageEvent]
) -> int:
    """Replace the rows of usage days first_day..last_day (inclusive) with `events`, in one transaction.

    On any error (an event outside the window, an event id twice) nothing changes."""
    _check_window(events, first_day, last_day)
    fetch_id = uuid.uuid4().hex
    with transaction(conn):
        _stage(conn, fetch_id, events)
        _move_into_window(conn, fetch_id, first_day, last_day, len(events))
    return len(events)


class StagedWindow:
    """The events of one fetch of usage days first_day..last_day, staged as they come (an `EventSink`).

    `commit()` moves them into raw_usage_events in one transaction; `discard()` drops them. Until
    `commit()` succeeds, the window's previous rows are untouched."""

    def __init__(self, store: DuckDBStore, first_day: date, last_day: date) -> None:
        self.store = store
        self.first_day, self.last_day = first_day, last_day
        self.fetch_id = uuid.uuid4().hex
        self.staged = 0

    @classmethod
    def begin(cls, store: DuckDBStore, first_day: date, last_day: date) -> StagedWindow:
        """A new staged fetch; deletes what fetches of dead processes left behind."""
        staged = cls(store, first_day, last_day)
        with store.connect() as conn:
            conn.execute(
                f"DELETE FROM {STAGING_TABLE} WHERE fetch_id IN (SELECT fetch_id FROM {STAGING_TABLE} "
                "GROUP BY fetch_id HAVING max(staged_at) < ?)",
                [datetime.now(UTC) - STALE_STAGING],
            )
        return staged

    def write(self, events: Sequence[UsageEvent]) -> None:
        _check_window(events, self.first_day, self.last_day)
        with self.store.connect() as conn:
            _stage(conn, self.fetch_id, events)
        self.staged += len(events)

    def drop_apps(self, app_ids: Collection[str]) -> int:
        with self.store.connect() as conn:
            row = conn.execute(
                f"DELETE FROM {STAGING_TABLE} WHERE fetch_id = ? AND app_id IN (SELECT unnest(?))",
                [self.fetch_id, list(app_ids)],
            ).fetchone()
        dropped = row[0] if row else 0
        self.staged -= dropped
        return dropped

    def drop_window(self, lo: datetime, hi: datetime) -> int:
        if lo.tzinfo is None or hi.tzinfo is None:  # a naive bound would be read in DuckDB's session time zone
            raise ValueError("lo and hi must be timezone-aware")
        with self.store.connect() as conn:
            row = conn.execute(
                f"DELETE FROM {STAGING_TABLE} WHERE fetch_id = ? AND occurred_at >= ? AND occurred_at < ?",
                [self.fetch_id, lo, hi],
            ).fetchone()
        dropped = row[0] if row else 0
        self.staged -= dropped
        return dropped

    def commit(self) -> int:
        with self.store.connect() as conn, transaction(conn):
            _move_into_window(conn, self.fetch_id, self.first_day, self.last_day, self.staged)
        return self.staged

    def discard(self) -> None:
        with self.store.connect() as conn:
            conn.execute(f"DELETE FROM {STAGING_TABLE} WHERE fetch_id = ?", [self.fetch_id])


@dataclass
class RawSummary:
    events: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    cost_by_currency: dict[str, Decimal] = field(default_factory=dict)
    unpriced_events: int = 0
    approximate_events: int = 0
    apps: int = 0
    per_app: list[tuple[str, str, int, int]] = field(default_factory=list)  # name, mode, events, tokens
    per_day: list[tuple[date, int, int]] = field(default_factory=list)  # day, events, tokens
    read_from: dict[str, int] = field(default_factory=dict)  # console | database -> events read that way
    priced_from_message_row: int = 0  # the database's better price of messages without usage metadata


def summarize_window(conn: duckdb.DuckDBPyConnection, first_day: date, last_day: date) -> RawSummary:
    where = "usage_date BETWEEN ? AND ?"
    params = [first_day, last_day]
    row = conn.execute(
        "SELECT count(*), coalesce(sum(input_tokens), 0), coalesce(sum(output_tokens), 0), "
        "coalesce(sum(total_tokens), 0), count(*) FILTER (NOT priced), count(*) FILTER (approximate), "
        "count(DISTINCT app_id), count(*) FILTER (price_source = 'message_row' AND priced) "
        f"FROM raw_usage_events WHERE {where}",
        params,
    ).fetchone()
    assert row is not None
    summary = RawSummary(
        events=row[0],
        input_tokens=int(row[1]),
        output_tokens=int(row[2]),
        total_tokens=int(row[3]),
        unpriced_events=row[4],
        approximate_events=row[5],
        apps=row[6],
        priced_from_message_row=row[7],
    )
    summary.cost_by_currency = dict(
        conn.execute(
            f"SELECT coalesce(currency, 'none'), sum(cost) FROM raw_usage_events WHERE {where} AND priced "
            "GROUP BY 1 ORDER BY 1",
            params,
        ).fetchall()
    )
    summary.per_app = conn.execute(
        f"SELECT app_name, app_mode, count(*), sum(total_tokens) FROM raw_usage_events WHERE {where} "
        "GROUP BY app_id, app_name, app_mode ORDER BY 4 DESC, 1",
        params,
    ).fetchall()
    summary.per_day = conn.execute(
        f"SELECT usage_date, count(*), sum(total_tokens) FROM raw_usage_events WHERE {where} GROUP BY 1 ORDER BY 1",
        params,
    ).fetchall()
    summary.read_from = dict(
        conn.execute(
            f"SELECT read_from, count(*) FROM raw_usage_events WHERE {where} GROUP BY 1 ORDER BY 1", params
        ).fetchall()
    )
    return summary
