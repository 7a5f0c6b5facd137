"""What one `ApiMeterSender.send` did, batch by batch, so partial progress is never lost."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from dify_meter.api_meter.records import record_key

RESPONSE_TEXT_LIMIT = 2000


@dataclass(frozen=True, slots=True)
class BatchResult:
    """One request that API_Meter finally applied (delivered) or that failed for good.

    A batch split on 413 appears as the halves that were actually sent, not as the original batch.
    """

    records: tuple[Mapping[str, Any], ...]
    delivered: bool
    status: int | None  # HTTP status of the last attempt; None when no response came (timeout, connection)
    inserted: int | None  # None unless delivered with a well-formed answer
    updated: int | None
    attempts: int
    attempted_at: datetime  # when the last attempt was made
    response_text: str  # truncated to RESPONSE_TEXT_LIMIT characters
    error: str | None = None  # human explanation when not delivered


@dataclass(slots=True)
class SendReport:
    batches: list[BatchResult] = field(default_factory=list)
    not_attempted: list[Mapping[str, Any]] = field(default_factory=list)  # after a failed batch

    @property
    def ok(self) -> bool:
        return not self.not_attempted and all(batch.delivered for batch in self.batches)

    @property
    def delivered_records(self) -> list[Mapping[str, Any]]:
        return [record for batch in self.batches if batch.delivered for record in batch.records]

    @property
    def undelivered_records(self) -> list[Mapping[str, Any]]:
        failed = [record for batch in self.batches if not batch.delivered for record in batch.records]
        return failed + list(self.not_attempted)

    @property
    def inserted(self) -> int:
        return sum(batch.inserted or 0 for batch in self.batches if batch.delivered)

    @property
    def updated(self) -> int:
        return sum(batch.updated or 0 for batch in self.batches if batch.delivered)

    @property
    def requests(self) -> int:
        """HTTP requests behind the final results (a 413 that led to a split is not counted)."""
        return sum(batch.attempts for batch in self.batches)

    def undelivered_dates(self) -> set[date]:
        """Days with at least one record that did not reach API_Meter: these go to the spool."""
        return {record_key(record).usage_date for record in self.undelivered_records}

    def delivered_dates(self) -> set[date]:
        """Days whose every record in this send was delivered."""
        days = {record_key(record).usage_date for record in self.delivered_records}
        return days - self.undelivered_dates()
