"""Per-model daily rows -> API_Meter records and request bodies (docs/api-meter.md)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from dify_meter.api_meter.json_body import decimal_text, encode_json

SOURCE_SYSTEM = "dify"
AGGREGATION_METHOD = "daily_sum"
AGGREGATION_PERIOD = "daily"
DEFAULT_CURRENCY = "USD"


class DeliveryKey(NamedTuple):
    """What API_Meter keeps one value for (within our tenant)."""

    usage_date: date
    provider: str
    model: str


@dataclass(frozen=True, slots=True)
class UsageValues:
    """The value fields of one record: what is compared to decide whether a key must be re-sent."""

    input_tokens: int
    output_tokens: int
    total_tokens: int
    request_count: int
    cost: Decimal
    currency: str

    def __post_init__(self) -> None:
        for name in ("input_tokens", "output_tokens", "total_tokens", "request_count"):
            count = getattr(self, name)
            if isinstance(count, bool) or not isinstance(count, int) or count < 0:
                raise ValueError(f"{name} must be an integer >= 0, got {count!r}")
        if self.total_tokens != self.input_tokens + self.output_tokens:
            raise ValueError(
                f"total_tokens ({self.total_tokens}) must equal input_tokens + output_tokens "
                f"({self.input_tokens} + {self.output_tokens})"
            )
        if not isinstance(self.cost, Decimal) or not self.cost.is_finite() or self.cost < 0:
            raise ValueError(f"cost must be a finite Decimal >= 0, got {self.cost!r}")
        if not self.currency:
            raise ValueError("currency must be a non-empty code such as USD")

    @classmethod
    def zero(cls, currency: str) -> UsageValues:
        return cls(0, 0, 0, 0, Decimal(0), currency)

    def is_zero(self) -> bool:
        return self == UsageValues.zero(self.currency)

    def payload_hash(self) -> str:
        """sha256 of a canonical JSON of the values; equal values give equal hashes (0.105 == 0.1050)."""
        canonical = json.dumps(
            {
                "input_tokens": self.input_tokens,
                "output_tokens": self.output_tokens,
                "total_tokens": self.total_tokens,
                "request_count": self.request_count,
                "cost_actual": decimal_text(self.cost),
                "currency": self.currency,
            },
            sort_keys=True,
            separators=(",", ":"),
        )
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class PerModelRow:
    """One row of the `usage_per_model` table."""

    usage_date: date
    provider: str
    model: str
    input_tokens: int
    output_tokens: int
    total_tokens: int
    request_count: int
    cost: Decimal
    currency: str
    unpriced_events: int = 0
    approximate_events: int = 0

    def __post_init__(self) -> None:
        if not self.provider or not self.model:
            raise ValueError(f"per-model row of {self.usage_date}: provider and model must be non-empty")
        try:
            _ = self.values  # building the values validates them
        except ValueError as exc:
            raise ValueError(f"per-model row {tuple(self.key)}: {exc}") from None

    @property
    def key(self) -> DeliveryKey:
        return DeliveryKey(self.usage_date, self.provider, self.model)

    @property
    def values(self) -> UsageValues:
        return UsageValues(
            self.input_tokens, self.output_tokens, self.total_tokens, self.request_count, self.cost, self.currency
        )


def source_event_id(tenant_id: str, usage_date: date | str, provider: str, model: str) -> str:
    """`dify-{usage_date}-{provider}-{model}-{hash12}`, hash12 from sha256 of the "|"-joined key."""
    day = usage_date.isoformat() if isinstance(usage_date, date) else usage_date
    digest = hashlib.sha256("|".join([tenant_id, day, provider, model]).encode("utf-8")).hexdigest()
    return f"dify-{day}-{provider}-{model}-{digest[:12]}"


def utc_timestamp(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError(f"timestamp {moment} has no timezone; API_Meter needs an offset or Z")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def day_bounds(usage_date: date, timezone: str | ZoneInfo) -> tuple[datetime, datetime]:
    """The calendar day in `timezone` as aware UTC datetimes [start, end); 23 or 25 hours on DST days."""
    zone = ZoneInfo(timezone) if isinstance(timezone, str) else timezone
    start = datetime.combine(usage_date, time(0), tzinfo=zone)
    end = datetime.combine(usage_date + timedelta(days=1), time(0), tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def make_record(key: DeliveryKey, values: UsageValues, *, tenant_id: str, timezone: str | ZoneInfo) -> dict[str, Any]:
    start, end = day_bounds(key.usage_date, timezone)
    return {
        "usage_date": key.usage_date.isoformat(),
        "provider": key.provider,
        "model": key.model,
        "input_tokens": values.input_tokens,
        "output_tokens": values.output_tokens,
        "total_tokens": values.total_tokens,
        "request_count": values.request_count,
        "cost_actual": values.cost,
        "currency": values.currency,
        "metadata": {
            "source_system": SOURCE_SYSTEM,
            "source_event_id": source_event_id(tenant_id, key.usage_date, key.provider, key.model),
            "aggregation_method": AGGREGATION_METHOD,
            "time_range": {"start": utc_timestamp(start), "end": utc_timestamp(end)},
        },
    }


def build_records(rows: Iterable[PerModelRow], *, tenant_id: str, timezone: str | ZoneInfo) -> list[dict[str, Any]]:
    """One record per row, in the rows' order; `timezone` is DIFY_TIMEZONE, the zone of usage_date."""
    return [make_record(row.key, row.values, tenant_id=tenant_id, timezone=timezone) for row in rows]


def zero_record(key: DeliveryKey, *, currency: str, tenant_id: str, timezone: str | ZoneInfo) -> dict[str, Any]:
    """The record that clears a key delivered before that has no usage any more."""
    return make_record(key, UsageValues.zero(currency), tenant_id=tenant_id, timezone=timezone)


def record_key(record: Mapping[str, Any]) -> DeliveryKey:
    return DeliveryKey(date.fromisoformat(record["usage_date"]), record["provider"], record["model"])


def record_values(record: Mapping[str, Any]) -> UsageValues:
    cost = record["cost_actual"]
    return UsageValues(
        record["input_tokens"],
        record["output_tokens"],
        record["total_tokens"],
        record["request_count"],
        Decimal(cost) if isinstance(cost, int) and not isinstance(cost, bool) else cost,
        record.get("currency", DEFAULT_CURRENCY),
    )


def payload_hash(record: Mapping[str, Any]) -> str:
    """Hash of the value fields only (the key and metadata are not values)."""
    return record_values(record).payload_hash()


def records_date_range(records: Sequence[Mapping[str, Any]]) -> tuple[datetime, datetime]:
    """From the earliest day start to the latest day end of the records' time ranges."""
    if not records:
        raise ValueError("no records: an API_Meter request needs at least one")
    starts = [datetime.fromisoformat(r["metadata"]["time_range"]["start"]) for r in records]
    ends = [datetime.fromisoformat(r["metadata"]["time_range"]["end"]) for r in records]
    return min(starts), max(ends)


def build_request(
    records: Sequence[Mapping[str, Any]],
    *,
    tenant_id: str,
    exporter_version: str,
    export_timestamp: datetime,
    date_range: tuple[datetime, datetime] | None = None,
) -> bytes:
    """The JSON body of one `POST /v1/usage`; `date_range` defaults to the span of the records' days."""
    start, end = date_range or records_date_range(records)
    body = {
        "tenant_id": tenant_id,
        "export_metadata": {
            "exporter_version": exporter_version,
            "export_timestamp": utc_timestamp(export_timestamp),
            "aggregation_period": AGGREGATION_PERIOD,
            "date_range": {"start": utc_timestamp(start), "end": utc_timestamp(end)},
        },
        "records": list(records),
    }
    return encode_json(body)
