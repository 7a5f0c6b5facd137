"""The spool: days whose delivery failed, replayed with exponential backoff (table api_meter_spool).

Life of an entry (one per usage_date):
- a failed send opens it (`spool_failure`): pending with a first backoff, or failed at once when
  the error is permanent (400/401/403/404: a person must fix something first);
- the replay sensor takes `due_entries`, and `mark_replay_attempt` counts each replay and moves
  `next_attempt_at` further out; a replay that fails calls `spool_failure` again, and once
  `max_retries` replays are used up the entry becomes failed;
- a delivery of the day resolves it (`mark_resolved`), and so does any delivery made after the
  failure from data at least as new (checked in `due_entries`): a replay never sends older values
  over newer ones;
- people list, re-queue and drop entries (`dify-meter spool`).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

import duckdb

from dify_meter.core.store import transaction

SpoolStatus = Literal["pending", "failed", "resolved"]

# The latest ledger row of a day is a delivery made after the entry's last failure, from data at
# least as new: nothing is left to replay.
_SUPERSEDED = """
WITH latest AS (
    SELECT usage_date, outcome, attempted_at, data_version FROM api_meter_ledger
    QUALIFY row_number() OVER (PARTITION BY usage_date ORDER BY attempt_seq DESC) = 1
)
SELECT s.usage_date, l.attempted_at
FROM api_meter_spool s JOIN latest l USING (usage_date)
WHERE s.status IN ('pending', 'failed')
  AND l.outcome = 'delivered'
  AND l.attempted_at > s.last_failed_at
  AND (s.data_version IS NULL OR l.data_version IS NULL OR l.data_version >= s.data_version)
"""


@dataclass(frozen=True, slots=True)
class SpoolPolicy:
    max_retries: int = 3  # MAX_RETRIES: automatic replays of one day before it becomes failed
    base_delay: timedelta = timedelta(minutes=5)
    max_delay: timedelta = timedelta(hours=6)

    def delay(self, attempts: int) -> timedelta:
        """Wait before the next replay after `attempts` replays: base * 2**attempts, capped."""
        return min(self.base_delay * (2**attempts), self.max_delay)


@dataclass(frozen=True, slots=True)
class SpoolEntry:
    usage_date: date
    status: SpoolStatus
    permanent: bool
    reason: str
    last_error: str
    http_status: int | None
    attempts: int
    first_failed_at: datetime
    last_failed_at: datetime
    last_attempt_at: datetime
    next_attempt_at: datetime | None
    data_version: datetime | None
    resolved_at: datetime | None
    resolution: str | None


_COLUMNS = ", ".join(field.name for field in fields(SpoolEntry))


def _entry(row: tuple[Any, ...]) -> SpoolEntry:
    values = [value.astimezone(UTC) if isinstance(value, datetime) else value for value in row]
    return SpoolEntry(*values)  # type: ignore[arg-type]  # rows are selected as _COLUMNS


def _aware(now: datetime) -> datetime:
    if now.tzinfo is None:
        raise ValueError("spool times must be timezone-aware")
    return now.astimezone(UTC)


def get_entry(conn: duckdb.DuckDBPyConnection, usage_date: date) -> SpoolEntry | None:
    row = conn.execute(f"SELECT {_COLUMNS} FROM api_meter_spool WHERE usage_date = ?", [usage_date]).fetchone()
    return _entry(row) if row else None


def list_entries(
    conn: duckdb.DuckDBPyConnection, *, statuses: tuple[SpoolStatus, ...] = ("pending", "failed", "resolved")
) -> list[SpoolEntry]:
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM api_meter_spool WHERE list_contains(?, status) ORDER BY usage_date",
        [list(statuses)],
    ).fetchall()
    return [_entry(row) for row in rows]


def spool_failure(
    conn: duckdb.DuckDBPyConnection,
    usage_date: date,
    reason: str,
    permanent: bool,
    now: datetime,
    *,
    http_status: int | None = None,
    data_version: datetime | None = None,
    policy: SpoolPolicy = SpoolPolicy(),
) -> SpoolEntry:
    """Record that a send of `usage_date` failed (pass `now` taken after the send).

    Opens a pending entry (failed if permanent), or updates the open one: a failure after
    `policy.max_retries` replays makes it failed.
    """
    now = _aware(now)
    with transaction(conn):
        existing = get_entry(conn, usage_date)
        if existing is None or existing.status == "resolved":
            status: SpoolStatus = "failed" if permanent else "pending"
            next_attempt = None if permanent else now + policy.delay(0)
            conn.execute(
                f"INSERT OR REPLACE INTO api_meter_spool ({_COLUMNS}) "
                "VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?, NULL, NULL)",
                [usage_date, status, permanent, reason, reason, http_status, now, now, now, next_attempt, data_version],
            )
        else:
            exhausted = existing.attempts >= policy.max_retries
            status = "failed" if permanent or exhausted else "pending"
            next_attempt = None if status == "failed" else now + policy.delay(existing.attempts)
            conn.execute(
                """
                UPDATE api_meter_spool
                SET status = ?, permanent = ?, last_error = ?, http_status = ?, last_failed_at = ?,
                    last_attempt_at = ?, next_attempt_at = ?, data_version = coalesce(?, data_version)
                WHERE usage_date = ?
                """,
                [status, permanent, reason, http_status, now, now, next_attempt, data_version, usage_date],
            )
        entry = get_entry(conn, usage_date)
    assert entry is not None
    return entry


def mark_replay_attempt(
    conn: duckdb.DuckDBPyConnection, usage_date: date, now: datetime, *, policy: SpoolPolicy = SpoolPolicy()
) -> SpoolEntry:
    """Count one replay of a pending entry as started, and move its next attempt out by the backoff.

    Call it when the replay is requested, so the next sensor tick does not request it again.
    """
    now = _aware(now)
    with transaction(conn):
        existing = get_entry(conn, usage_date)
        if existing is None or existing.status != "pending":
            state = existing.status if existing else "absent"
            raise ValueError(f"spool entry of {usage_date} is {state}, not pending: nothing to replay")
        attempts = existing.attempts + 1
        conn.execute(
            "UPDATE api_meter_spool SET attempts = ?, last_attempt_at = ?, next_attempt_at = ? WHERE usage_date = ?",
            [attempts, now, now + policy.delay(attempts), usage_date],
        )
        entry = get_entry(conn, usage_date)
    assert entry is not None
    return entry


def mark_resolved(
    conn: duckdb.DuckDBPyConnection, usage_date: date, now: datetime, *, resolution: str = "delivered"
) -> bool:
    """Resolve the open entry of a day that was delivered; False when there was none."""
    now = _aware(now)
    with transaction(conn):
        row = conn.execute(
            """
            UPDATE api_meter_spool SET status = 'resolved', next_attempt_at = NULL, resolved_at = ?, resolution = ?
            WHERE usage_date = ? AND status IN ('pending', 'failed')
            RETURNING usage_date
            """,
            [now, resolution, usage_date],
        ).fetchall()
    return bool(row)


def due_entries(
    conn: duckdb.DuckDBPyConnection, now: datetime, *, policy: SpoolPolicy = SpoolPolicy()
) -> list[SpoolEntry]:
    """Pending entries whose next attempt is due, oldest day first.

    First resolves entries superseded by a later delivery, and fails entries whose last allowed
    replay had its time and did not resolve them (e.g. the replay run died).
    """
    now = _aware(now)
    with transaction(conn):
        for day, delivered_at in conn.execute(_SUPERSEDED).fetchall():
            conn.execute(
                "UPDATE api_meter_spool SET status = 'resolved', next_attempt_at = NULL, resolved_at = ?, "
                "resolution = ? WHERE usage_date = ?",
                [now, f"superseded by the delivery at {delivered_at.astimezone(UTC).isoformat()}", day],
            )
        conn.execute(
            "UPDATE api_meter_spool SET status = 'failed', next_attempt_at = NULL "
            "WHERE status = 'pending' AND attempts >= ? AND next_attempt_at <= ?",
            [policy.max_retries, now],
        )
        rows = conn.execute(
            f"SELECT {_COLUMNS} FROM api_meter_spool WHERE status = 'pending' AND next_attempt_at <= ? "
            "ORDER BY usage_date",
            [now],
        ).fetchall()
    return [_entry(row) for row in rows]


def due_for_replay(
    conn: duckdb.DuckDBPyConnection, now: datetime, *, policy: SpoolPolicy = SpoolPolicy()
) -> list[SpoolEntry]:
    """Read-only twin of `due_entries` for the replay sensor: pending, due, replays left, not superseded.

    It changes nothing, so it works on a read-only connection; the replay run itself does the writes.
    """
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM api_meter_spool WHERE status = 'pending' AND next_attempt_at <= ? "
        f"AND attempts < ? AND usage_date NOT IN (SELECT usage_date FROM ({_SUPERSEDED})) ORDER BY usage_date",
        [_aware(now), policy.max_retries],
    ).fetchall()
    return [_entry(row) for row in rows]


def requeue(conn: duckdb.DuckDBPyConnection, usage_date: date, now: datetime) -> SpoolEntry:
    """Make a failed (or pending) entry due now with a fresh count of replays, after a person fixed the cause."""
    now = _aware(now)
    with transaction(conn):
        updated = conn.execute(
            "UPDATE api_meter_spool SET status = 'pending', attempts = 0, next_attempt_at = ? "
            "WHERE usage_date = ? AND status IN ('pending', 'failed') RETURNING usage_date",
            [now, usage_date],
        ).fetchall()
        if not updated:
            raise ValueError(f"no open spool entry for {usage_date}: nothing to re-queue")
        entry = get_entry(conn, usage_date)
    assert entry is not None
    return entry


def drop(conn: duckdb.DuckDBPyConnection, usage_date: date) -> bool:
    """Forget a day's entry entirely; False when there was none."""
    with transaction(conn):
        deleted = conn.execute(
            "DELETE FROM api_meter_spool WHERE usage_date = ? RETURNING usage_date", [usage_date]
        ).fetchall()
    return bool(deleted)
