"""What the reference API_Meter holds: one value per (tenant_id, provider, model, usage_date).

Upserts are all-or-nothing and, with a file, persisted before they are acknowledged: the file is
rewritten to a temporary name and renamed over the old one, so a crash leaves the old or the new
state, never half of one. Costs are stored as decimal strings so they stay exact.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple

from dify_meter.sandbox.api_meter_validation import ValidRecord

STORE_FORMAT = "dify-meter-sandbox-api-meter/1"


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


def _to_json(key: StoredKey, record: StoredRecord) -> dict[str, Any]:
    row: dict[str, Any] = {**key._asdict(), **asdict(record)}
    row["usage_date"] = key.usage_date.isoformat()
    row["cost_actual"] = str(record.cost_actual)
    row["last_written_at"] = record.last_written_at.isoformat()
    return row


def _from_json(row: dict[str, Any]) -> tuple[StoredKey, StoredRecord]:
    key = StoredKey(row["tenant_id"], row["provider"], row["model"], date.fromisoformat(row["usage_date"]))
    record = StoredRecord(
        input_tokens=int(row["input_tokens"]),
        output_tokens=int(row["output_tokens"]),
        total_tokens=int(row["total_tokens"]),
        request_count=int(row["request_count"]),
        cost_actual=Decimal(row["cost_actual"]),
        currency=row["currency"],
        source_event_id=row["source_event_id"],
        writes=int(row["writes"]),
        last_written_at=datetime.fromisoformat(row["last_written_at"]),
    )
    return key, record


class ApiMeterStore:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._records: dict[StoredKey, StoredRecord] = self._load() if path else {}

    def _load(self) -> dict[StoredKey, StoredRecord]:
        assert self.path is not None
        if not self.path.exists():
            return {}
        try:
            content = json.loads(self.path.read_text(encoding="utf-8"))
            if content.get("format") != STORE_FORMAT:
                raise ValueError(f"format is {content.get('format')!r}, expected {STORE_FORMAT!r}")
            return dict(_from_json(row) for row in content["records"])
        except (OSError, ValueError, ArithmeticError, KeyError, TypeError, AttributeError) as exc:
            raise StoreFileError(
                f"cannot read the sandbox API_Meter store {self.path}: {exc}. Delete it to start empty, "
                "or pass another --store file."
            ) from exc

    def _persist(self, records: dict[StoredKey, StoredRecord]) -> None:
        if self.path is None:
            return
        content = {"format": STORE_FORMAT, "records": [_to_json(key, value) for key, value in records.items()]}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as file:
                json.dump(content, file)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def upsert(self, tenant_id: str, records: Iterable[ValidRecord], now: datetime) -> tuple[int, int]:
        """Apply all records or none; returns (inserted, updated)."""
        with self._lock:
            updated_state = dict(self._records)
            inserted = updated = 0
            for record in records:
                key = StoredKey(tenant_id.lower(), record.provider, record.model, record.usage_date)
                previous = updated_state.get(key)
                updated_state[key] = StoredRecord(
                    record.input_tokens, record.output_tokens, record.total_tokens, record.request_count,
                    record.cost_actual, record.currency, record.source_event_id,
                    writes=(previous.writes if previous else 0) + 1, last_written_at=now,
                )
                if previous is None:
                    inserted += 1
                else:
                    updated += 1
            self._persist(updated_state)
            self._records = updated_state
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
