from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from dify_meter.api_meter.json_body import decimal_text, encode_json
from dify_meter.api_meter.records import (
    DeliveryKey,
    PerModelRow,
    UsageValues,
    build_records,
    build_request,
    payload_hash,
    source_event_id,
    zero_record,
)
from dify_meter_tests.support.api_meter_samples import TENANT_ID, sample_records, sample_rows


def test_source_event_id_known_answer() -> None:
    # sha256("12345678-1234-1234-1234-123456789abc|2025-12-05|anthropic|claude-3-5-sonnet-20241022")
    # computed by hand: 191cd396f9e1... (the contract's example id shows a placeholder hash).
    joined = "12345678-1234-1234-1234-123456789abc|2025-12-05|anthropic|claude-3-5-sonnet-20241022"
    assert hashlib.sha256(joined.encode("utf-8")).hexdigest()[:12] == "191cd396f9e1"
    assert (
        source_event_id(TENANT_ID, date(2025, 12, 5), "anthropic", "claude-3-5-sonnet-20241022")
        == "dify-2025-12-05-anthropic-claude-3-5-sonnet-20241022-191cd396f9e1"
    )


def test_source_event_id_is_deterministic_and_depends_on_every_key_part() -> None:
    base = source_event_id(TENANT_ID, "2025-12-05", "openai", "gpt-4o")
    assert base == source_event_id(TENANT_ID, date(2025, 12, 5), "openai", "gpt-4o")
    others = {
        source_event_id("87654321-4321-4321-4321-cba987654321", "2025-12-05", "openai", "gpt-4o"),
        source_event_id(TENANT_ID, "2025-12-06", "openai", "gpt-4o"),
        source_event_id(TENANT_ID, "2025-12-05", "azure", "gpt-4o"),
        source_event_id(TENANT_ID, "2025-12-05", "openai", "gpt-4o-mini"),
    }
    assert base not in others and len(others) == 4


def test_source_event_id_hashes_utf8() -> None:
    expected = hashlib.sha256(f"{TENANT_ID}|2025-12-05|zhipu|glm-4-中文".encode()).hexdigest()[:12]
    assert source_event_id(TENANT_ID, "2025-12-05", "zhipu", "glm-4-中文").endswith("-" + expected)


def test_record_has_every_contract_field_with_exact_values() -> None:
    row = PerModelRow(
        date(2025, 12, 5),
        "anthropic",
        "claude-3-5-sonnet-20241022",
        10000,
        5000,
        15000,
        25,
        Decimal("0.1050000000"),
        "USD",
        unpriced_events=2,
    )
    (record,) = build_records([row], tenant_id=TENANT_ID, timezone="UTC")
    assert record == {
        "usage_date": "2025-12-05",
        "provider": "anthropic",
        "model": "claude-3-5-sonnet-20241022",
        "input_tokens": 10000,
        "output_tokens": 5000,
        "total_tokens": 15000,
        "request_count": 25,
        "cost_actual": Decimal("0.1050000000"),
        "currency": "USD",
        "metadata": {
            "source_system": "dify",
            "source_event_id": "dify-2025-12-05-anthropic-claude-3-5-sonnet-20241022-191cd396f9e1",
            "aggregation_method": "daily_sum",
            "time_range": {"start": "2025-12-05T00:00:00Z", "end": "2025-12-06T00:00:00Z"},
        },
    }


@pytest.mark.parametrize(
    ("timezone", "day", "start", "end"),
    [
        ("UTC", date(2025, 12, 5), "2025-12-05T00:00:00Z", "2025-12-06T00:00:00Z"),
        ("America/New_York", date(2025, 12, 5), "2025-12-05T05:00:00Z", "2025-12-06T05:00:00Z"),
        # DST starts on 2025-03-09 in New York: a 23-hour day.
        ("America/New_York", date(2025, 3, 9), "2025-03-09T05:00:00Z", "2025-03-10T04:00:00Z"),
        # DST ends on 2025-10-26 in Berlin: a 25-hour day.
        ("Europe/Berlin", date(2025, 10, 26), "2025-10-25T22:00:00Z", "2025-10-26T23:00:00Z"),
        ("Asia/Kolkata", date(2025, 12, 5), "2025-12-04T18:30:00Z", "2025-12-05T18:30:00Z"),
    ],
)
def test_time_range_is_the_calendar_day_in_dify_timezone(timezone: str, day: date, start: str, end: str) -> None:
    (record,) = build_records(sample_rows(1, day=day), tenant_id=TENANT_ID, timezone=timezone)
    assert record["metadata"]["time_range"] == {"start": start, "end": end}


def test_decimal_cost_is_written_with_its_exact_digits() -> None:
    cost = Decimal("1234567890123456789012345678.0123456789")  # the widest DECIMAL(38,10)
    assert Decimal(float(cost)) != cost  # float would lose it
    body = encode_json({"cost_actual": cost, "small": Decimal("0.1000000000"), "zero": Decimal("0E-10")})
    assert body == b'{"cost_actual":1234567890123456789012345678.0123456789,"small":0.1,"zero":0}'
    assert json.loads(body, parse_float=Decimal)["cost_actual"] == cost


def test_json_body_refuses_float_and_non_finite_amounts() -> None:
    with pytest.raises(TypeError, match="float"):
        encode_json({"cost_actual": 0.1})
    with pytest.raises(ValueError, match="finite"):
        decimal_text(Decimal("NaN"))


def test_json_body_escapes_strings_like_json() -> None:
    value = {"model": 'a"b\\c\n中文', "flag": True, "none": None, "list": [1, Decimal("2.50")]}
    assert json.loads(encode_json(value), parse_float=Decimal) == {
        "model": 'a"b\\c\n中文',
        "flag": True,
        "none": None,
        "list": [1, Decimal("2.5")],
    }


def test_build_request_wraps_records_with_export_metadata() -> None:
    records = sample_records(2, day=date(2025, 12, 5)) + sample_records(1, day=date(2025, 12, 7))
    body = build_request(
        records,
        tenant_id=TENANT_ID,
        exporter_version="0.1.0",
        export_timestamp=datetime(2025, 12, 8, 1, 0, 3, tzinfo=UTC),
    )
    parsed = json.loads(body, parse_float=Decimal)
    assert parsed["tenant_id"] == TENANT_ID
    assert parsed["export_metadata"] == {
        "exporter_version": "0.1.0",
        "export_timestamp": "2025-12-08T01:00:03Z",
        "aggregation_period": "daily",
        "date_range": {"start": "2025-12-05T00:00:00Z", "end": "2025-12-08T00:00:00Z"},
    }
    assert [r["cost_actual"] for r in parsed["records"]] == [r["cost_actual"] for r in records]


def test_payload_hash_compares_values_not_their_spelling() -> None:
    (record,) = sample_records(1)
    same_value = {**record, "cost_actual": Decimal(str(record["cost_actual"]) + "000"), "metadata": {}}
    assert payload_hash(same_value) == payload_hash(record)
    for field, changed in (("input_tokens", 1), ("request_count", 1), ("cost_actual", Decimal("0.0000000001"))):
        other = {**record, field: record[field] + changed}
        if field == "input_tokens":
            other["total_tokens"] += 1
        assert payload_hash(other) != payload_hash(record), field
    assert payload_hash({**record, "currency": "EUR"}) != payload_hash(record)


def test_zero_record_clears_a_key_in_its_last_currency() -> None:
    key = DeliveryKey(date(2025, 12, 5), "tongyi", "qwen-max")
    record = zero_record(key, currency="RMB", tenant_id=TENANT_ID, timezone="UTC")
    assert {k: record[k] for k in ("input_tokens", "output_tokens", "total_tokens", "request_count")} == dict.fromkeys(
        ("input_tokens", "output_tokens", "total_tokens", "request_count"), 0
    )
    assert record["cost_actual"] == 0 and record["currency"] == "RMB"
    assert record["metadata"]["source_event_id"] == source_event_id(TENANT_ID, key.usage_date, "tongyi", "qwen-max")
    assert UsageValues.zero("RMB").is_zero()


def test_rows_with_broken_values_are_refused_with_their_key() -> None:
    with pytest.raises(ValueError, match=r"2025, 12, 5.*openai.*total_tokens \(16\) must equal"):
        PerModelRow(date(2025, 12, 5), "openai", "gpt-4o", 10, 5, 16, 1, Decimal("0.1"), "USD")
    with pytest.raises(ValueError, match="cost must be a finite Decimal"):
        PerModelRow(date(2025, 12, 5), "openai", "gpt-4o", 10, 5, 15, 1, 0.1, "USD")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="provider and model must be non-empty"):
        PerModelRow(date(2025, 12, 5), "", "gpt-4o", 10, 5, 15, 1, Decimal("0.1"), "USD")
