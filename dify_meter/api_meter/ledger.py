"""The delivery ledger: every attempt per key, with the values sent (table api_meter_ledger).

It answers "what does API_Meter hold for this key?" locally, so unchanged keys are not re-sent
and keys that disappeared get a zero record. Functions take an open DuckDB connection and do
their writes in one transaction; they never open the file themselves.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Literal

import duckdb

from dify_meter.api_meter.records import DeliveryKey, UsageValues, record_key, record_values
from dify_meter.api_meter.report import BatchResult
from dify_meter.core.bulk_insert import insert_rows
from dify_meter.core.store import transaction

Outcome = Literal["delivered", "failed"]
NOT_ATTEMPTED = "not attempted: an earlier batch failed"

_LEDGER_COLUMNS = (
    "batch_id",
    "usage_date",
    "provider",
    "model",
    "payload_hash",
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "request_count",
    "cost",
    "currency",
    "attempted_at",
    "outcome",
    "http_status",
    "attempts",
    "inserted",
    "updated",
    "response_text",
    "run_id",
    "data_version",
)


def _insert(conn: duckdb.DuckDBPyConnection, rows: Sequence[tuple[Any, ...]]) -> None:
    if rows:
        insert_rows(conn, "api_meter_ledger", _LEDGER_COLUMNS, rows)


_LAST_DELIVERED = """
WITH wanted AS (
    SELECT * FROM api_meter_ledger WHERE usage_date IN (SELECT unnest(?::DATE[]))
), delivered AS (
    SELECT * FROM wanted WHERE outcome = 'delivered'
    QUALIFY row_number() OVER (PARTITION BY usage_date, provider, model ORDER BY attempt_seq DESC) = 1
)
SELECT d.usage_date, d.provider, d.model, d.input_tokens, d.output_tokens, d.total_tokens, d.request_count,
       d.cost, d.currency, d.payload_hash, d.attempted_at, d.data_version, d.run_id, d.batch_id,
       (SELECT max(f.attempted_at) FROM wanted f
        WHERE f.outcome = 'failed' AND f.attempts > 0 AND (f.http_status IS NULL OR f.http_status >= 500)
          AND f.attempt_seq > d.attempt_seq
          AND f.usage_date = d.usage_date AND f.provider = d.provider AND f.model = d.model)
FROM delivered d
"""


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """The latest delivered values of one key."""

    key: DeliveryKey
    values: UsageValues
    payload_hash: str
    attempted_at: datetime
    data_version: datetime | None
    run_id: str | None
    batch_id: str
    # A later attempt failed with no answer or a 5xx (a timeout or a 504 may hide an applied
    # request): API_Meter may hold that attempt's values, so the key must be re-sent.
    failed_since: datetime | None = None


@dataclass(frozen=True, slots=True)
class LedgerAttempt:
    """One row of the ledger, for history views."""

    key: DeliveryKey
    values: UsageValues
    attempted_at: datetime
    outcome: Outcome
    http_status: int | None
    attempts: int
    inserted: int | None
    updated: int | None
    response_text: str | None
    run_id: str | None
    batch_id: str


def _utc(moment: datetime | None) -> datetime | None:
    return moment.astimezone(UTC) if moment is not None else None


def _rows(
    records: Iterable[Mapping[str, Any]],
    *,
    outcome: Outcome,
    attempted_at: datetime,
    http_status: int | None,
    attempts: int,
    inserted: int | None,
    updated: int | None,
    response_text: str | None,
    run_id: str | None,
    data_versions: Mapping[date, datetime] | None,
    batch_id: str,
) -> list[tuple[Any, ...]]:
    if attempted_at.tzinfo is None:
        raise ValueError("attempted_at must be timezone-aware")
    rows = []
    for record in records:
        key, values = record_key(record), record_values(record)
        rows.append(
            (
                batch_id,
                key.usage_date,
                key.provider,
                key.model,
                values.payload_hash(),
                values.input_tokens,
                values.output_tokens,
                values.total_tokens,
                values.request_count,
                values.cost,
                values.currency,
                attempted_at,
                outcome,
                http_status,
                attempts,
                inserted,
                updated,
                response_text,
                run_id,
                (data_versions or {}).get(key.usage_date),
            )
        )
    return rows


def record_attempt(
    conn: duckdb.DuckDBPyConnection,
    records: Sequence[Mapping[str, Any]],
    *,
    outcome: Outcome,
    attempted_at: datetime,
    http_status: int | None,
    attempts: int,
    inserted: int | None = None,
    updated: int | None = None,
    response_text: str | None = None,
    run_id: str | None = None,
    data_versions: Mapping[date, datetime] | None = None,
    batch_id: str | None = None,
) -> str:
    """Record one request's final outcome for each of its records; returns the batch id used."""
    batch_id = batch_id or uuid.uuid4().hex
    rows = _rows(
        records,
        outcome=outcome,
        attempted_at=attempted_at,
        http_status=http_status,
        attempts=attempts,
        inserted=inserted,
        updated=updated,
        response_text=response_text,
        run_id=run_id,
        data_versions=data_versions,
        batch_id=batch_id,
    )
    with transaction(conn):
        _insert(conn, rows)
    return batch_id


def _batch_rows(
    batch: BatchResult, *, run_id: str | None, data_versions: Mapping[date, datetime] | None
) -> list[tuple[Any, ...]]:
    return _rows(
        batch.records,
        outcome="delivered" if batch.delivered else "failed",
        attempted_at=batch.attempted_at,
        http_status=batch.status,
        attempts=batch.attempts,
        inserted=batch.inserted,
        updated=batch.updated,
        response_text=batch.response_text if batch.delivered else (batch.error or batch.response_text),
        run_id=run_id,
        data_versions=data_versions,
        batch_id=uuid.uuid4().hex,
    )


def record_batch(
    conn: duckdb.DuckDBPyConnection,
    batch: BatchResult,
    *,
    run_id: str | None = None,
    data_versions: Mapping[date, datetime] | None = None,
) -> None:
    """Record one batch as it completes (fits `ApiMeterSender.send(on_batch=...)`)."""
    rows = _batch_rows(batch, run_id=run_id, data_versions=data_versions)
    with transaction(conn):
        _insert(conn, rows)


def last_delivered(conn: duckdb.DuckDBPyConnection, usage_dates: Iterable[date]) -> dict[DeliveryKey, LedgerEntry]:
    """The latest delivered values and hash of every key of these days that was ever delivered."""
    days = sorted(set(usage_dates))
    if not days:
        return {}
    entries: dict[DeliveryKey, LedgerEntry] = {}
    for row in conn.execute(_LAST_DELIVERED, [days]).fetchall():
        (
            day,
            provider,
            model,
            inputs,
            outputs,
            total,
            requests,
            cost,
            currency,
            digest,
            attempted_at,
            data_version,
            run_id,
            batch_id,
            failed_since,
        ) = row
        key = DeliveryKey(day, provider, model)
        entries[key] = LedgerEntry(
            key=key,
            values=UsageValues(inputs, outputs, total, requests, cost, currency),
            payload_hash=digest,
            attempted_at=_utc(attempted_at),  # type: ignore[arg-type]
            data_version=_utc(data_version),
            run_id=run_id,
            batch_id=batch_id,
            failed_since=_utc(failed_since),
        )
    return entries


def history(conn: duckdb.DuckDBPyConnection, usage_date: date) -> list[LedgerAttempt]:
    """Every recorded attempt of one day, oldest first."""
    rows = conn.execute(
        """
        SELECT usage_date, provider, model, input_tokens, output_tokens, total_tokens, request_count, cost,
               currency, attempted_at, outcome, http_status, attempts, inserted, updated, response_text,
               run_id, batch_id
        FROM api_meter_ledger WHERE usage_date = ? ORDER BY attempt_seq
        """,
        [usage_date],
    ).fetchall()
    return [
        LedgerAttempt(
            key=DeliveryKey(day, provider, model),
            values=UsageValues(inputs, outputs, total, requests, cost, currency),
            attempted_at=_utc(attempted_at),  # type: ignore[arg-type]
            outcome=outcome,
            http_status=status,
            attempts=attempts,
            inserted=inserted,
            updated=updated,
            response_text=text,
            run_id=run_id,
            batch_id=batch_id,
        )
        for (
            day,
            provider,
            model,
            inputs,
            outputs,
            total,
            requests,
            cost,
            currency,
            attempted_at,
            outcome,
            status,
            attempts,
            inserted,
            updated,
            text,
            run_id,
            batch_id,
        ) in rows
    ]
