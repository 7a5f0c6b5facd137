from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import duckdb
import pytest

from dify_meter.api_meter.ledger import record_attempt
from dify_meter.api_meter.records import build_records
from dify_meter.api_meter.spool import (
    SpoolPolicy,
    drop,
    due_entries,
    get_entry,
    list_entries,
    mark_replay_attempt,
    mark_resolved,
    requeue,
    spool_failure,
)
from dify_meter_tests.support.api_meter_samples import DAY, TENANT_ID, sample_rows

T0 = datetime(2025, 12, 6, 1, 0, tzinfo=UTC)
POLICY = SpoolPolicy(max_retries=3, base_delay=timedelta(minutes=5), max_delay=timedelta(hours=6))
MINUTE = timedelta(minutes=1)


def fail(conn: duckdb.DuckDBPyConnection, at: datetime, *, permanent: bool = False, version: datetime | None = None):  # type: ignore[no-untyped-def]
    return spool_failure(
        conn, DAY, "HTTP 503 after 4 attempts", permanent, at, http_status=503, data_version=version, policy=POLICY
    )


def ledger_row(conn: duckdb.DuckDBPyConnection, outcome: str, at: datetime, version: datetime | None = None) -> None:
    records = build_records(sample_rows(1), tenant_id=TENANT_ID, timezone="UTC")
    record_attempt(
        conn,
        records,
        outcome=outcome,
        attempted_at=at,
        http_status=200 if outcome == "delivered" else 503,  # type: ignore[arg-type]
        attempts=1,
        data_versions={DAY: version} if version else None,
    )


def test_a_transient_failure_is_pending_and_due_after_the_first_backoff(conn: duckdb.DuckDBPyConnection) -> None:
    entry = fail(conn, T0, version=T0 - MINUTE)
    assert (entry.status, entry.attempts, entry.permanent, entry.http_status) == ("pending", 0, False, 503)
    assert entry.next_attempt_at == T0 + 5 * MINUTE and entry.first_failed_at == T0
    assert entry.data_version == T0 - MINUTE and entry.reason == entry.last_error == "HTTP 503 after 4 attempts"
    assert due_entries(conn, T0 + 4 * MINUTE, policy=POLICY) == []
    assert [e.usage_date for e in due_entries(conn, T0 + 5 * MINUTE, policy=POLICY)] == [DAY]


def test_replays_back_off_exponentially_then_the_entry_fails(conn: duckdb.DuckDBPyConnection) -> None:
    fail(conn, T0)
    now = T0
    delays = []
    for replay in range(1, POLICY.max_retries + 1):
        (due,) = due_entries(conn, now + 6 * 60 * MINUTE, policy=POLICY)
        now = due.next_attempt_at  # type: ignore[assignment]
        started = mark_replay_attempt(conn, DAY, now, policy=POLICY)
        assert started.attempts == replay and due_entries(conn, now, policy=POLICY) == []
        after = fail(conn, now + MINUTE)
        delays.append(after.next_attempt_at - after.last_failed_at if after.next_attempt_at else None)
        now = after.last_failed_at
    assert delays == [10 * MINUTE, 20 * MINUTE, None]
    entry = get_entry(conn, DAY)
    assert entry is not None and entry.status == "failed" and entry.attempts == 3 and entry.next_attempt_at is None
    assert due_entries(conn, now + timedelta(days=30), policy=POLICY) == []


def test_backoff_is_capped() -> None:
    assert SpoolPolicy(base_delay=timedelta(minutes=5), max_delay=timedelta(hours=1)).delay(10) == timedelta(hours=1)


def test_an_exhausted_entry_whose_last_replay_vanished_becomes_failed(conn: duckdb.DuckDBPyConnection) -> None:
    fail(conn, T0)
    for _ in range(3):
        mark_replay_attempt(conn, DAY, T0, policy=POLICY)  # replays requested, their runs died silently
    assert due_entries(conn, T0 + timedelta(hours=1), policy=POLICY) == []
    assert get_entry(conn, DAY).status == "failed"  # type: ignore[union-attr]


def test_a_permanent_failure_waits_for_a_person(conn: duckdb.DuckDBPyConnection) -> None:
    entry = fail(conn, T0, permanent=True)
    assert entry.status == "failed" and entry.permanent and entry.next_attempt_at is None
    assert due_entries(conn, T0 + timedelta(days=1), policy=POLICY) == []
    with pytest.raises(ValueError, match="not pending"):
        mark_replay_attempt(conn, DAY, T0, policy=POLICY)
    fixed = requeue(conn, DAY, T0 + timedelta(hours=2))
    assert (fixed.status, fixed.attempts, fixed.next_attempt_at) == ("pending", 0, T0 + timedelta(hours=2))
    assert [e.usage_date for e in due_entries(conn, T0 + timedelta(hours=2), policy=POLICY)] == [DAY]


def test_a_newer_delivery_after_the_failure_resolves_the_entry_instead_of_replaying(
    conn: duckdb.DuckDBPyConnection,
) -> None:
    fail(conn, T0, version=T0 - MINUTE)
    ledger_row(conn, "delivered", T0 + MINUTE, version=T0)
    assert due_entries(conn, T0 + timedelta(hours=1), policy=POLICY) == []
    entry = get_entry(conn, DAY)
    assert entry is not None and entry.status == "resolved" and entry.resolved_at == T0 + timedelta(hours=1)
    assert entry.resolution == "superseded by the delivery at 2025-12-06T01:01:00+00:00"


@pytest.mark.parametrize(
    ("ledger", "why"),
    [
        ([("delivered", -MINUTE, None)], "the delivery was before the failure"),
        ([("delivered", MINUTE, None), ("failed", 2 * MINUTE, None)], "a later part of the day failed again"),
        ([("delivered", MINUTE, -2 * MINUTE)], "the delivery was built from older data"),
    ],
)
def test_entries_that_are_not_superseded_stay_due(
    conn: duckdb.DuckDBPyConnection, ledger: list[tuple[str, timedelta, timedelta | None]], why: str
) -> None:
    fail(conn, T0, version=T0 - MINUTE)
    for outcome, offset, version_offset in ledger:
        ledger_row(conn, outcome, T0 + offset, version=T0 + version_offset if version_offset is not None else None)
    assert [e.usage_date for e in due_entries(conn, T0 + timedelta(hours=1), policy=POLICY)] == [DAY], why


def test_resolve_then_fail_again_opens_a_fresh_entry(conn: duckdb.DuckDBPyConnection) -> None:
    fail(conn, T0)
    mark_replay_attempt(conn, DAY, T0 + 5 * MINUTE, policy=POLICY)
    assert mark_resolved(conn, DAY, T0 + 6 * MINUTE)
    assert not mark_resolved(conn, DAY, T0 + 7 * MINUTE)  # nothing open any more
    assert get_entry(conn, DAY).resolution == "delivered"  # type: ignore[union-attr]
    reopened = fail(conn, T0 + timedelta(days=1))
    assert (reopened.status, reopened.attempts, reopened.first_failed_at) == ("pending", 0, T0 + timedelta(days=1))
    assert reopened.resolved_at is None and reopened.resolution is None


def test_list_and_drop(conn: duckdb.DuckDBPyConnection) -> None:
    other = date(2025, 12, 4)
    fail(conn, T0)
    spool_failure(conn, other, "HTTP 401", True, T0, http_status=401, policy=POLICY)
    assert [e.usage_date for e in list_entries(conn)] == [other, DAY]
    assert [e.usage_date for e in list_entries(conn, statuses=("failed",))] == [other]
    assert drop(conn, other) and not drop(conn, other)
    assert [e.usage_date for e in list_entries(conn)] == [DAY]


def test_naive_times_are_refused(conn: duckdb.DuckDBPyConnection) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        spool_failure(conn, DAY, "x", False, datetime(2025, 12, 6, 1, 0))
