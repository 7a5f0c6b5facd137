"""Faults on the way, and what API_Meter holds at the end: exactly the day's values, once per key."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from dify_meter.api_meter.errors import PermanentDeliveryError
from dify_meter.api_meter.report import BatchResult
from dify_meter.api_meter.sender import ApiMeterSender
from dify_meter.sandbox.api_meter.server import ApiMeterServer
from dify_meter_tests.support.api_meter_samples import (
    DAY,
    TENANT_ID,
    TOKEN,
    expected_totals,
    sample_records,
    sample_rows,
)

pytestmark = pytest.mark.integration

MakeSender = Callable[..., ApiMeterSender]


def held(meter: ApiMeterServer) -> tuple:
    totals = meter.totals()
    return (
        totals.input_tokens,
        totals.output_tokens,
        totals.total_tokens,
        totals.request_count,
        totals.cost_by_currency.get("USD"),
    )


def test_transient_faults_then_recovery_end_with_exact_totals(
    meter: ApiMeterServer, make_sender: MakeSender, sleeps: list[float]
) -> None:
    meter.fail_next(2, status=502)
    meter.rate_limit_next(1, retry_after="0")
    meter.drop_after_apply_next(1)
    report = make_sender(batch_size=3, max_retries=4).send(sample_records(10))
    assert report.ok and len(report.batches) == 4
    assert [entry.fault for entry in meter.request_log][:4] == ["rate_limit", "fail", "fail", "drop_after_apply"]
    assert held(meter) == expected_totals(sample_rows(10))
    assert meter.totals().records == 10
    # the batch whose answer was lost was applied twice; the upsert kept one value per key
    assert sorted(record.writes for record in meter.records().values()) == [1] * 7 + [2] * 3


def test_dropped_connection_after_apply_leaves_exact_totals(meter: ApiMeterServer, make_sender: MakeSender) -> None:
    meter.drop_after_apply_next(1)
    report = make_sender().send(sample_records(4))
    assert [entry.status for entry in meter.request_log] == [None, 200]
    (batch,) = report.batches
    assert batch.attempts == 2 and batch.inserted == 0 and batch.updated == 4  # the first try had landed
    assert held(meter) == expected_totals(sample_rows(4))


def test_server_restart_between_batches_keeps_what_it_had(tmp_path: Path, sleeps: list[float]) -> None:
    store = tmp_path / "api_meter.sqlite"
    first = ApiMeterServer(token=TOKEN, tenant_id=TENANT_ID, store_path=store).start()
    servers = [first]

    def stop_after_first_batch(result: BatchResult) -> None:
        if len(servers) == 1:
            first.stop()  # the next batch meets a closed port

    def restart_instead_of_sleeping(seconds: float) -> None:
        sleeps.append(seconds)
        if len(servers) == 1:
            servers.append(ApiMeterServer(token=TOKEN, tenant_id=TENANT_ID, store_path=store, port=first.port).start())

    sender = ApiMeterSender(
        first.base_url, TOKEN, TENANT_ID, exporter_version="t", batch_size=2, sleep=restart_instead_of_sleeping
    )
    try:
        report = sender.send(sample_records(5), on_batch=stop_after_first_batch)
    finally:
        for server in servers:
            server.stop()
    assert report.ok and [batch.attempts for batch in report.batches] == [1, 2, 1] and len(sleeps) == 1
    second = servers[1]
    assert len(second.request_log) == 2  # batches 2 and 3 only
    assert held(second) == expected_totals(sample_rows(5))  # batch 1 came back from the store
    reopened = ApiMeterServer(store_path=store)
    assert reopened.records() == second.records()


def test_failure_keeps_the_batches_delivered_before_it(meter: ApiMeterServer, make_sender: MakeSender) -> None:
    records = sample_records(6)
    records[3] = {**records[3], "request_count": -1}
    seen: list[BatchResult] = []
    with pytest.raises(PermanentDeliveryError) as raised:
        make_sender(batch_size=2).send(records, on_batch=seen.append)
    report = raised.value.report
    assert report is not None and not report.ok
    assert [(batch.delivered, batch.status) for batch in report.batches] == [(True, 200), (False, 400)]
    assert report.batches == seen
    assert report.delivered_records == records[:2]
    assert report.not_attempted == records[4:]
    assert report.undelivered_records == records[2:]
    assert report.delivered_dates() == set() and report.undelivered_dates() == {DAY}
    assert meter.totals().records == 2
