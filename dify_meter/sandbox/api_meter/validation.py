"""Every field rule of docs/api-meter.md, as the reference server checks them.

Written independently of `dify_meter.api_meter.records` on purpose: the exporter's records and the
server's checks are two computations of the same contract, so a test that passes both means something.
Each broken rule becomes one detail `{"index": i, "field": "...", "message": "..."}`; `index` is the
record's position, or None for fields of the request itself.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from dify_meter.core.validation import is_uuid_text

DATE_PATTERN = re.compile(r"^\d{4}-\d{2}-\d{2}$")
TIMESTAMP_PATTERN = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})$")
CURRENCY_PATTERN = re.compile(r"^[A-Z]{3}$")
COUNT_FIELDS = ("input_tokens", "output_tokens", "total_tokens", "request_count")
# A calendar day starts at local midnight somewhere between UTC-12:00 and UTC+14:00, and lasts
# 23 to 25 hours (DST changes).
EARLIEST_DAY_START = timedelta(hours=-14)
LATEST_DAY_START = timedelta(hours=12)
SHORTEST_DAY = timedelta(hours=23)
LONGEST_DAY = timedelta(hours=25)


@dataclass(frozen=True, slots=True)
class ValidRecord:
    usage_date: date
    provider: str
    model: str
    input_tokens: int
    output_tokens: int
    total_tokens: int
    request_count: int
    cost_actual: Decimal
    currency: str
    source_event_id: str


class InvalidRequest(ValueError):
    def __init__(self, details: list[dict[str, Any]]) -> None:
        super().__init__(f"invalid request: {len(details)} problem(s)")
        self.details = details


def expected_source_event_id(tenant_id: str, usage_date: str, provider: str, model: str) -> str:
    hash12 = hashlib.sha256("|".join([tenant_id, usage_date, provider, model]).encode("utf-8")).hexdigest()[:12]
    return f"dify-{usage_date}-{provider}-{model}-{hash12}"


def _timestamp(value: object) -> datetime | None:
    if not isinstance(value, str) or not TIMESTAMP_PATTERN.match(value):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _day(value: object) -> date | None:
    if not isinstance(value, str) or not DATE_PATTERN.match(value):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


class _Checker:
    def __init__(self) -> None:
        self.details: list[dict[str, Any]] = []

    def fail(self, index: int | None, field: str, message: str) -> None:
        self.details.append({"index": index, "field": field, "message": message})

    def non_empty_string(self, index: int | None, field: str, value: object) -> str | None:
        if isinstance(value, str) and value.strip():
            return value
        self.fail(index, field, "must be a non-empty string")
        return None

    def timestamp(self, index: int | None, field: str, value: object) -> datetime | None:
        moment = _timestamp(value)
        if moment is None:
            self.fail(index, field, "must be an ISO 8601 timestamp with an offset or Z, e.g. 2025-12-05T00:00:00Z")
        return moment

    def time_range(self, index: int | None, field: str, value: object) -> tuple[datetime, datetime] | None:
        if not isinstance(value, dict):
            self.fail(index, field, "must be an object with start and end timestamps")
            return None
        start = self.timestamp(index, f"{field}.start", value.get("start"))
        end = self.timestamp(index, f"{field}.end", value.get("end"))
        if start is None or end is None:
            return None
        if start >= end:
            self.fail(index, field, "start must be before end")
            return None
        return start, end

    def count(self, index: int, field: str, value: object) -> int | None:
        if type(value) is int and value >= 0:
            return value
        self.fail(index, field, "must be an integer >= 0")
        return None


def _check_export_metadata(check: _Checker, metadata: object) -> None:
    if not isinstance(metadata, dict):
        check.fail(None, "export_metadata", "must be an object")
        return
    check.non_empty_string(None, "export_metadata.exporter_version", metadata.get("exporter_version"))
    check.timestamp(None, "export_metadata.export_timestamp", metadata.get("export_timestamp"))
    if metadata.get("aggregation_period") != "daily":
        check.fail(None, "export_metadata.aggregation_period", 'must be "daily"')
    check.time_range(None, "export_metadata.date_range", metadata.get("date_range"))


def _check_day_range(check: _Checker, index: int, day: date, bounds: tuple[datetime, datetime]) -> None:
    start, end = bounds
    offset = start.astimezone(UTC) - datetime.combine(day, time(0), tzinfo=UTC)
    if not (EARLIEST_DAY_START <= offset <= LATEST_DAY_START) or not (SHORTEST_DAY <= end - start <= LONGEST_DAY):
        check.fail(
            index, "metadata.time_range", f"must be the bounds of the calendar day {day} in the exporter's timezone"
        )


def _check_record(check: _Checker, tenant_id: str | None, index: int, record: object) -> ValidRecord | None:
    if not isinstance(record, dict):
        check.fail(index, "(record)", "must be an object")
        return None
    before = len(check.details)
    day = _day(record.get("usage_date"))
    if day is None:
        check.fail(index, "usage_date", "must be a date YYYY-MM-DD")
    provider = check.non_empty_string(index, "provider", record.get("provider"))
    model = check.non_empty_string(index, "model", record.get("model"))
    counts = {field: check.count(index, field, record.get(field)) for field in COUNT_FIELDS}
    inputs, outputs, total = counts["input_tokens"], counts["output_tokens"], counts["total_tokens"]
    if inputs is not None and outputs is not None and total is not None and total != inputs + outputs:
        check.fail(index, "total_tokens", f"must equal input_tokens + output_tokens ({inputs} + {outputs})")
    cost = record.get("cost_actual")
    if isinstance(cost, bool) or not isinstance(cost, int | Decimal) or not Decimal(cost).is_finite() or cost < 0:
        check.fail(index, "cost_actual", "must be a number >= 0")
    currency = record.get("currency", "USD")
    if not isinstance(currency, str) or not CURRENCY_PATTERN.match(currency):
        check.fail(index, "currency", "must be a currency code of 3 capital letters such as USD")
    event_id = _check_metadata(check, index, record.get("metadata"), day)
    if len(check.details) > before or tenant_id is None:
        return None  # the hash can only be checked on an otherwise valid record of a valid tenant
    assert day and provider and model and event_id
    expected = expected_source_event_id(tenant_id, day.isoformat(), provider, model)
    if event_id != expected:
        check.fail(
            index,
            "metadata.source_event_id",
            f"must be {expected!r}: dify-{{usage_date}}-{{provider}}-{{model}}-{{hash12}}, hash12 = first 12 hex "
            "digits of sha256(tenant_id|usage_date|provider|model)",
        )
        return None
    return ValidRecord(
        day,
        provider,
        model,
        inputs,  # type: ignore[arg-type]
        outputs,  # type: ignore[arg-type]
        total,  # type: ignore[arg-type]
        counts["request_count"],  # type: ignore[arg-type]
        Decimal(cost),  # type: ignore[arg-type]
        currency,
        event_id,  # type: ignore[arg-type]
    )


def _check_metadata(check: _Checker, index: int, metadata: object, day: date | None) -> str | None:
    if not isinstance(metadata, dict):
        check.fail(index, "metadata", "must be an object")
        return None
    if metadata.get("source_system") != "dify":
        check.fail(index, "metadata.source_system", 'must be "dify"')
    event_id = check.non_empty_string(index, "metadata.source_event_id", metadata.get("source_event_id"))
    for optional in ("source_app_id", "source_app_name"):
        if optional in metadata and not isinstance(metadata[optional], str):
            check.fail(index, f"metadata.{optional}", "must be a string when present")
    if metadata.get("aggregation_method") != "daily_sum":
        check.fail(index, "metadata.aggregation_method", 'must be "daily_sum"')
    bounds = check.time_range(index, "metadata.time_range", metadata.get("time_range"))
    if bounds is not None and day is not None:
        _check_day_range(check, index, day, bounds)
    return event_id


def validate_usage_request(payload: object) -> tuple[str, list[ValidRecord]]:
    """(tenant_id, records) of a valid request body; raises InvalidRequest listing every broken rule."""
    check = _Checker()
    if not isinstance(payload, dict):
        check.fail(None, "(body)", "must be a JSON object")
        raise InvalidRequest(check.details)
    tenant_id = payload.get("tenant_id")
    if not is_uuid_text(tenant_id):
        check.fail(None, "tenant_id", "must be a UUID such as 12345678-1234-1234-1234-123456789abc")
        tenant_id = None
    _check_export_metadata(check, payload.get("export_metadata"))
    records = payload.get("records")
    if not isinstance(records, list) or not records:
        check.fail(None, "records", "must be a list of 1 or more records")
        raise InvalidRequest(check.details)
    valid: list[ValidRecord] = []
    seen: dict[tuple[date, str, str], int] = {}
    for index, record in enumerate(records):
        checked = _check_record(check, tenant_id, index, record)
        if checked is None:
            continue
        key = (checked.usage_date, checked.provider, checked.model)
        if key in seen:
            # Last write would win inside one request: that is always an exporter bug (two rows
            # for one key), so say so instead of silently keeping one of them.
            check.fail(index, "(key)", f"same usage_date, provider and model as record {seen[key]}")
            continue
        seen[key] = index
        valid.append(checked)
    if check.details:
        raise InvalidRequest(check.details)
    assert isinstance(tenant_id, str)
    return tenant_id, valid
