"""What the reference API_Meter holds: one value per (tenant_id, provider, model, usage_date).

Upserts are all-or-nothing and, with a file, persisted before they are acknowledged, in one SQLite
transaction holding only the request's records (rewriting a whole file per request cost ~0.4 s at
10,000 records): a crash leaves the old or the new state, never half of one. Reads are served from
memory. Costs are stored as decimal strings so they stay exact.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable
from contextlib import closing
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple

from dify_meter.sandbox.api_meter.validation import ValidRecord

_SCHEMA = """
CREATE TABLE IF NOT EXISTS usage_records (
    tenant_id TEXT NOT NULL, provider TEXT NOT NULL, model TEXT NOT NULL, usage_date TEXT NOT NULL,
    input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL, total_tokens INTEGER NOT NULL,
    request_count INTEGER NOT NULL, cost_actual TEXT NOT NULL, currency TEXT NOT NULL,
    source_event_id TEXT NOT NULL, writes INTEGER NOT NULL, last_written_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, provider, model, usage_date)
)
"""
_UPSERT = """
INSERT OR REPLACE INTO usage_records VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""


class StoredKey(NamedTuple):
    tenant_id: str
    provider: str
    model: str
    usage_date: date


@dataclass(frozen=True, slots=True)
class StoredRecord:
    input_tokens: int
    output_tokens: int
    total_tokens: int
    request_count: int
    cost_actual: Decimal
    currency: str
    source_event_id: str
    writes: int  # how many accepted requests wrote this key
    last_written_at: datetime


@dataclass(frozen=True, slots=True)
class Totals:
    records: int
    input_tokens: int
    output_tokens: int
    total_tokens: int
    request_count: int
    cost_by_currency: dict[str, Decimal]  # money of different currencies is never added


class StoreFileError(RuntimeError):
    """The store file cannot be read; the message says which file and what to do."""


def _to_row(key: StoredKey, record: StoredRecord) -> tuple[object, ...]:
    return (
        key.tenant_id,
        key.provider,
        key.model,
        key.usage_date.isoformat(),
        record.input_tokens,
        record.output_tokens,
        record.total_tokens,
        record.request_count,
        str(record.cost_actual),
        record.currency,
        record.source_event_id,
        record.writes,
        record.last_written_at.isoformat(),
    )


def _from_row(row: tuple[Any, ...]) -> tuple[StoredKey, StoredRecord]:
    (
        tenant_id,
        provider,
        model,
        day,
        inputs,
        outputs,
        total,
        requests,
        cost,
        currency,
        event_id,
        writes,
        written_at,
    ) = row
    key = StoredKey(tenant_id, provider, model, date.fromisoformat(day))
    record = StoredRecord(
        inputs,
        outputs,
        total,
        requests,
        Decimal(cost),
        currency,
        event_id,
        writes,
        datetime.fromisoformat(written_at),
    )
    return key, record


class ApiMeterStore:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._records: dict[StoredKey, StoredRecord] = self._load() if path else {}

    def _connect(self) -> sqlite3.Connection:
        assert self.path is not None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(self.path, isolation_level=None)
        connection.execute("PRAGMA synchronous = FULL")
        connection.execute(_SCHEMA)
        return connection

    def _load(self) -> dict[StoredKey, StoredRecord]:
        try:
            with closing(self._connect()) as connection:
                return dict(_from_row(row) for row in connection.execute("SELECT * FROM usage_records"))
        except (sqlite3.Error, OSError, ValueError, ArithmeticError) as exc:
            raise StoreFileError(
                f"cannot read the sandbox API_Meter store {self.path}: {exc}. Delete it to start empty, "
                "or pass another --store file."
            ) from exc

    def _persist(self, changed: dict[StoredKey, StoredRecord]) -> None:
        if self.path is None:
            return
        with closing(self._connect()) as connection:
            connection.execute("BEGIN IMMEDIATE")
            try:
                connection.executemany(_UPSERT, [_to_row(key, value) for key, value in changed.items()])
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")

    def upsert(self, tenant_id: str, records: Iterable[ValidRecord], now: datetime) -> tuple[int, int]:
        """Apply all records or none; returns (inserted, updated)."""
        with self._lock:
            changed: dict[StoredKey, StoredRecord] = {}
            inserted = updated = 0
            for record in records:
                key = StoredKey(tenant_id.lower(), record.provider, record.model, record.usage_date)
                previous = changed.get(key) or self._records.get(key)
                changed[key] = StoredRecord(
                    record.input_tokens,
                    record.output_tokens,
                    record.total_tokens,
                    record.request_count,
                    record.cost_actual,
                    record.currency,
                    record.source_event_id,
                    writes=(previous.writes if previous else 0) + 1,
                    last_written_at=now,
                )
                if previous is None:
                    inserted += 1
                else:
                    updated += 1
            self._persist(changed)
            self._records.update(changed)
            return inserted, updated

    def records(self) -> dict[StoredKey, StoredRecord]:
        with self._lock:
            return dict(self._records)

    def totals(self, *, usage_dates: Iterable[date] | None = None) -> Totals:
        wanted = set(usage_dates) if usage_dates is not None else None
        chosen = [value for key, value in self.records().items() if wanted is None or key.usage_date in wanted]
        cost: dict[str, Decimal] = {}
        for value in chosen:
            cost[value.currency] = cost.get(value.currency, Decimal(0)) + value.cost_actual
        return Totals(
            records=len(chosen),
            input_tokens=sum(value.input_tokens for value in chosen),
            output_tokens=sum(value.output_tokens for value in chosen),
            total_tokens=sum(value.total_tokens for value in chosen),
            request_count=sum(value.request_count for value in chosen),
            cost_by_currency=cost,
        )
