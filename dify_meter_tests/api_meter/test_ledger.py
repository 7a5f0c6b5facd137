from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import duckdb
import pytest

from dify_meter.api_meter.errors import TransientDeliveryError
from dify_meter.api_meter.ledger import (
    NOT_ATTEMPTED,
    history,
    last_delivered,
    record_attempt,
    record_batch,
)
from dify_meter.api_meter.plan import DeliveryPlan, plan_delivery
from dify_meter.api_meter.records import DeliveryKey, PerModelRow, UsageValues, build_records, record_key
from dify_meter.api_meter.sender import ApiMeterSender
from dify_meter.sandbox.api_meter.server import ApiMeterServer
from dify_meter_tests.support.api_meter_samples import DAY, TENANT_ID, sample_records, sample_rows

T0 = datetime(2025, 12, 6, 1, 0, tzinfo=UTC)


def deliver(conn: duckdb.DuckDBPyConnection, rows: list[PerModelRow], at: datetime, **kwargs: object) -> None:
    records = build_records(rows, tenant_id=TENANT_ID, timezone="UTC")
    record_attempt(
        conn,
        records,
        outcome="delivered",
        attempted_at=at,
        http_status=200,
        attempts=1,
        inserted=len(records),
        updated=0,
        **kwargs,
    )  # type: ignore[arg-type]


def plan(rows: list[PerModelRow], conn: duckdb.DuckDBPyConnection, *, force: bool = False) -> DeliveryPlan:
    return plan_delivery(rows, last_delivered(conn, {DAY}), tenant_id=TENANT_ID, timezone="UTC", force=force)


def test_last_delivered_is_the_latest_delivery_per_key_with_exact_values(conn: duckdb.DuckDBPyConnection) -> None:
    rows = sample_rows(2)
    rows[0] = replace(rows[0], cost=Decimal("1234567890123456789012345678.0123456789"))
    deliver(conn, rows, T0)
    newer = replace(rows[1], input_tokens=7, output_tokens=3, total_tokens=10)
    deliver(conn, [newer], T0 + timedelta(hours=1), run_id="run-2", data_versions={DAY: T0})
    failed = build_records([replace(newer, request_count=99)], tenant_id=TENANT_ID, timezone="UTC")
    record_attempt(conn, failed, outcome="failed", attempted_at=T0 + timedelta(hours=2), http_status=400, attempts=1)
    entries = last_delivered(conn, [DAY, date(2025, 12, 4)])
    assert set(entries) == {rows[0].key, rows[1].key}
    assert entries[rows[0].key].values == rows[0].values  # 38 digits, exact
    latest = entries[rows[1].key]
    assert latest.values == newer.values and latest.payload_hash == newer.values.payload_hash()
    assert latest.attempted_at == T0 + timedelta(hours=1) and latest.run_id == "run-2" and latest.data_version == T0
    assert latest.failed_since is None  # a 400 is a clear refusal: nothing landed
    assert last_delivered(conn, [date(2025, 12, 4)]) == {}


def test_a_failure_without_answer_after_a_delivery_marks_the_key_uncertain(conn: duckdb.DuckDBPyConnection) -> None:
    rows = sample_rows(1)
    deliver(conn, rows, T0)
    records = build_records(rows, tenant_id=TENANT_ID, timezone="UTC")
    record_attempt(conn, records, outcome="failed", attempted_at=T0 + timedelta(hours=1), http_status=None, attempts=4)
    assert last_delivered(conn, [DAY])[rows[0].key].failed_since == T0 + timedelta(hours=1)
    # the same values as delivered are still re-sent: API_Meter may hold the lost attempt's values
    assert [p.change for p in plan(rows, conn).changed] == ["changed"]


def test_plan_classifies_new_changed_unchanged_and_zeroed(conn: duckdb.DuckDBPyConnection) -> None:
    before = sample_rows(4)
    before[3] = replace(before[3], currency="RMB")
    deliver(conn, before, T0)
    now = [before[0], replace(before[1], request_count=before[1].request_count + 1)] + sample_rows(1, provider="azure")
    result = plan(now, conn)
    assert [p.key for p in result.unchanged] == [before[0].key]
    assert [(p.key, p.before, p.after) for p in result.changed] == [(before[1].key, before[1].values, now[1].values)]
    assert [(p.key, p.before) for p in result.new] == [(now[2].key, None)]
    assert {p.key: p.after for p in result.zeroed} == {
        before[2].key: UsageValues.zero("USD"),
        before[3].key: UsageValues.zero("RMB"),
    }
    sent = {record_key(record): record for record in result.records}
    assert set(sent) == {before[1].key, now[2].key, before[2].key, before[3].key}
    zero = sent[before[3].key]
    assert (zero["total_tokens"], zero["request_count"], zero["cost_actual"], zero["currency"]) == (0, 0, 0, "RMB")
    assert result.usage_dates() == {DAY}


def test_plan_of_unchanged_data_sends_nothing_unless_forced(conn: duckdb.DuckDBPyConnection) -> None:
    rows = sample_rows(3)
    deliver(conn, rows, T0)
    assert plan(rows, conn).is_empty
    forced = plan(rows, conn, force=True)
    assert forced.forced and len(forced.unchanged) == 3 and len(forced.records) == 3


def test_a_zeroed_key_is_zeroed_once(conn: duckdb.DuckDBPyConnection) -> None:
    rows = sample_rows(2)
    deliver(conn, rows, T0)
    first = plan(rows[:1], conn)
    assert [p.key for p in first.zeroed] == [rows[1].key]
    record_attempt(
        conn, first.records, outcome="delivered", attempted_at=T0 + timedelta(hours=1), http_status=200, attempts=1
    )
    second = plan(rows[:1], conn)
    assert second.is_empty and {p.key for p in second.unchanged} == {rows[0].key, rows[1].key}
    assert len(plan(rows[:1], conn, force=True).records) == 2


def test_held_back_keys_are_neither_sent_nor_zeroed(conn: duckdb.DuckDBPyConnection) -> None:
    before = sample_rows(3)
    deliver(conn, before, T0)
    conflict = replace(before[1], currency="RMB/USD", cost=Decimal("9"))  # two currencies: a data error
    result = plan_delivery(
        [before[0], conflict],
        last_delivered(conn, {DAY}),
        tenant_id=TENANT_ID,
        timezone="UTC",
        hold_back=[before[1].key, before[2].key],
    )
    assert result.is_empty and result.zeroed == [] and result.held_back == [before[1].key, before[2].key]
    assert "2 held back: 2025-12-05 openai/gpt-test-1, 2025-12-05 openai/gpt-test-2" in result.describe()


def test_plan_refuses_two_rows_for_one_key(conn: duckdb.DuckDBPyConnection) -> None:
    row = sample_rows(1)[0]
    with pytest.raises(ValueError, match="two per-model rows"):
        plan([row, replace(row, request_count=1)], conn)


def test_describe_is_a_readable_markdown_diff(conn: duckdb.DuckDBPyConnection) -> None:
    before = sample_rows(3)
    deliver(conn, before, T0)
    now = [before[0], replace(before[1], cost=Decimal("0.25"))] + sample_rows(1, provider="azure")
    text = plan(now, conn).describe()
    assert text.startswith("**3 records to send**: 1 new, 1 changed, 1 zeroed, 1 unchanged")
    assert "| 2025-12-05 | openai | gpt-test-1 | changed | 1,503 | 4 | 0.1000000007 → 0.25 | USD |" in text
    assert "| 2025-12-05 | openai | gpt-test-2 | zeroed | 1,506 → 0 | 5 → 0 | 0.1000000014 → 0 | USD |" in text
    assert "| 2025-12-05 | azure | gpt-test-0 | new | 1,500 | 3 | 0.1 | USD |" in text
    assert "gpt-test-0 | unchanged" not in text
    assert "Nothing to send" in DeliveryPlan().describe()


@pytest.mark.integration
def test_a_real_send_recorded_then_planned_again(
    conn: duckdb.DuckDBPyConnection, meter: ApiMeterServer, make_sender: Callable[..., ApiMeterSender]
) -> None:
    """Send, record the report, plan again: the ledger says exactly what API_Meter holds."""
    rows = sample_rows(5)
    first = plan(rows, conn)
    assert len(first.new) == 5
    meter.fail_next(10)
    with pytest.raises(TransientDeliveryError) as raised:
        make_sender(batch_size=2, max_retries=0).send(first.records)
    assert raised.value.report is not None
    report = raised.value.report
    for batch in report.batches:
        record_batch(conn, batch, run_id="run-1")
    record_attempt(
        conn,
        report.not_attempted,
        outcome="failed",
        attempted_at=T0,
        http_status=None,
        attempts=0,
        response_text=NOT_ATTEMPTED,
        run_id="run-1",
    )
    assert last_delivered(conn, {DAY}) == {}
    attempts = history(conn, DAY)
    assert [(a.outcome, a.http_status, a.attempts) for a in attempts] == [("failed", 503, 1)] * 2 + [
        ("failed", None, 0)
    ] * 3
    meter.fail_next(0)
    report = make_sender(batch_size=2).send(plan(rows, conn).records, on_batch=lambda b: record_batch(conn, b))
    assert report.ok
    held = {DeliveryKey(k.usage_date, k.provider, k.model): v for k, v in meter.records().items()}
    delivered = last_delivered(conn, {DAY})
    assert {key: entry.values.cost for key, entry in delivered.items()} == {
        key: value.cost_actual for key, value in held.items()
    }
    assert plan(rows, conn).is_empty
    assert sample_records(5) == first.records
