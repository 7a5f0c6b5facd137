"""One test per row of the contract's response table, against the reference server over loopback."""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from dify_meter.api_meter.errors import PermanentDeliveryError, TransientDeliveryError
from dify_meter.api_meter.records import build_request
from dify_meter.api_meter.sender import ApiMeterSender
from dify_meter.sandbox.api_meter.server import ApiMeterServer
from dify_meter_tests.support.api_meter_samples import (
    DAY,
    OTHER_TENANT_ID,
    TENANT_ID,
    TOKEN,
    expected_totals,
    sample_records,
    sample_rows,
)

pytestmark = pytest.mark.integration

MakeSender = Callable[..., ApiMeterSender]


def statuses(meter: ApiMeterServer) -> list[int | None]:
    return [entry.status for entry in meter.request_log]


def assert_server_holds(meter: ApiMeterServer, count: int) -> None:
    totals = meter.totals()
    inputs, outputs, total, requests, cost = expected_totals(sample_rows(count))
    assert (totals.records, totals.input_tokens, totals.output_tokens, totals.total_tokens, totals.request_count) == (
        count,
        inputs,
        outputs,
        total,
        requests,
    )
    assert totals.cost_by_currency == {"USD": cost}


def test_200_is_recorded_as_delivered_with_inserted_and_updated(meter: ApiMeterServer, make_sender: MakeSender) -> None:
    sender = make_sender(batch_size=2)
    first = sender.send(sample_records(3))
    assert first.ok and first.inserted == 3 and first.updated == 0
    assert [(b.delivered, b.status, b.inserted, b.updated, b.attempts) for b in first.batches] == [
        (True, 200, 2, 0, 1),
        (True, 200, 1, 0, 1),
    ]
    again = sender.send(sample_records(3))  # re-sending is harmless: an upsert
    assert again.inserted == 0 and again.updated == 3
    assert_server_holds(meter, 3)


def test_400_is_not_retried_and_names_the_records_and_why(meter: ApiMeterServer, make_sender: MakeSender) -> None:
    records = sample_records(2)
    records[1] = {**records[1], "total_tokens": records[1]["total_tokens"] + 1}
    with pytest.raises(PermanentDeliveryError) as raised:
        make_sender().send(records)
    error = raised.value
    assert error.status == 400 and error.permanent
    assert [(d["index"], d["field"]) for d in error.details] == [(1, "total_tokens")]
    assert "record 1 (2025-12-05 openai/gpt-test-1) total_tokens: must equal input_tokens + output_tokens" in str(error)
    assert "data is kept" in str(error)
    assert statuses(meter) == [400]  # no retry
    assert meter.records() == {}  # all or nothing: the valid record 0 was not applied either
    assert error.report is not None and error.report.undelivered_records == records


def test_401_says_the_token_is_wrong_and_never_shows_it(
    meter: ApiMeterServer, make_sender: MakeSender, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "wrong-token-5f1c9e"
    sender = make_sender(token=wrong)
    with pytest.raises(PermanentDeliveryError) as raised:
        sender.send(sample_records(1))
    assert raised.value.status == 401 and "Check API_METER_TOKEN" in str(raised.value)
    assert statuses(meter) == [401]
    for text in (str(raised.value), repr(raised.value), repr(sender), repr(raised.value.report), caplog.text):
        assert wrong not in text
    make_sender().send(sample_records(1))
    assert TOKEN not in caplog.text


def test_403_says_the_token_is_not_allowed_for_the_tenant(meter: ApiMeterServer, make_sender: MakeSender) -> None:
    with pytest.raises(PermanentDeliveryError) as raised:
        make_sender(tenant_id=OTHER_TENANT_ID).send(sample_records(1))
    assert raised.value.status == 403
    assert OTHER_TENANT_ID in str(raised.value) and "Check API_METER_TENANT_ID" in str(raised.value)
    assert statuses(meter) == [403]


def test_404_says_the_url_is_wrong(meter: ApiMeterServer, make_sender: MakeSender) -> None:
    with pytest.raises(PermanentDeliveryError) as raised:
        make_sender(url=meter.base_url + "/api").send(sample_records(1))
    assert raised.value.status == 404
    assert "the URL is wrong" in str(raised.value) and "Check API_METER_URL" in str(raised.value)
    assert f"{meter.base_url}/api/v1/usage" in str(raised.value)
    assert statuses(meter) == [404]


def body_size(records: list[dict]) -> int:
    return len(
        build_request(records, tenant_id=TENANT_ID, exporter_version="0.1.0-test", export_timestamp=datetime.now(UTC))
    )


def test_413_splits_the_batch_until_the_halves_fit(meter: ApiMeterServer, make_sender: MakeSender) -> None:
    records = sample_records(4)
    meter.max_body_bytes = max(body_size(records[:2]), body_size(records[2:]))  # two fit, four do not
    report = make_sender(batch_size=4).send(records)
    assert statuses(meter) == [413, 200, 200]
    assert [len(batch.records) for batch in report.batches] == [2, 2] and report.ok
    assert_server_holds(meter, 4)


def test_413_of_a_single_record_is_permanent(meter: ApiMeterServer, make_sender: MakeSender) -> None:
    records = sample_records(2)
    meter.max_body_bytes = body_size(records[:1]) - 1
    with pytest.raises(PermanentDeliveryError) as raised:
        make_sender(batch_size=2).send(records)
    assert raised.value.status == 413 and "cannot be split further" in str(raised.value)
    assert statuses(meter) == [413, 413]  # the pair, then its first half
    report = raised.value.report
    assert report is not None and report.not_attempted == [records[1]]  # the second half is kept too
    assert report.undelivered_records == records


def test_429_waits_the_retry_after_seconds(meter: ApiMeterServer, make_sender: MakeSender, sleeps: list[float]) -> None:
    meter.rate_limit_next(2, retry_after="7")
    report = make_sender().send(sample_records(1))
    assert sleeps == [7.0, 7.0]
    assert statuses(meter) == [429, 429, 200] and report.batches[0].attempts == 3
    assert_server_holds(meter, 1)


def test_429_waits_until_the_retry_after_http_date(
    meter: ApiMeterServer, make_sender: MakeSender, sleeps: list[float]
) -> None:
    now = datetime(2025, 12, 6, 1, 0, 0, tzinfo=UTC)
    meter.rate_limit_next(1, retry_after=now + timedelta(seconds=42))
    make_sender(clock=lambda: now).send(sample_records(1))
    assert sleeps == [42.0]
    assert statuses(meter) == [429, 200]


def test_429_waits_at_most_the_cap(meter: ApiMeterServer, make_sender: MakeSender, sleeps: list[float]) -> None:
    meter.rate_limit_next(1, retry_after="86400")
    make_sender(max_retry_after=120.0).send(sample_records(1))
    assert sleeps == [120.0]


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_is_retried_with_exponential_backoff_and_jitter(
    meter: ApiMeterServer, make_sender: MakeSender, sleeps: list[float], status: int
) -> None:
    meter.fail_next(2, status=status)
    report = make_sender(batch_size=10).send(sample_records(3))
    assert statuses(meter) == [status, status, 200]
    assert report.ok and report.batches[0].attempts == 3
    # initial 1 s doubled each retry, plus up to 1 s of jitter
    assert len(sleeps) == 2 and 1.0 <= sleeps[0] <= 2.0 and 2.0 <= sleeps[1] <= 3.0
    assert_server_holds(meter, 3)


def test_5xx_beyond_max_retries_raises_transient_with_what_was_tried(
    meter: ApiMeterServer, make_sender: MakeSender, sleeps: list[float]
) -> None:
    meter.fail_next(10, status=503)
    records = sample_records(2)
    with pytest.raises(TransientDeliveryError) as raised:
        make_sender(max_retries=3).send(records)
    error = raised.value
    assert not error.permanent and error.attempts == 4 and error.last_status == 503
    assert "failed 4 times (3 retries)" in str(error) and "HTTP 503" in str(error) and "2025-12-05" in str(error)
    assert statuses(meter) == [503] * 4 and len(sleeps) == 3
    assert error.report is not None and error.report.undelivered_records == records
    assert error.report.undelivered_dates() == {DAY}


def test_timeout_is_retried(meter: ApiMeterServer, make_sender: MakeSender, sleeps: list[float]) -> None:
    meter.slow_next(1, seconds=30)  # held far past the client's timeout
    report = make_sender(timeout=0.3).send(sample_records(2))
    assert report.ok and report.batches[0].attempts == 2 and len(sleeps) == 1
    assert [entry.status for entry in meter.request_log if entry.fault != "slow"] == [200]
    assert_server_holds(meter, 2)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_connection_errors_are_retried_then_reported(sleeps: list[float]) -> None:
    port = free_port()  # nothing listens there
    sender = ApiMeterSender(
        f"http://127.0.0.1:{port}", TOKEN, TENANT_ID, exporter_version="t", max_retries=2, sleep=sleeps.append
    )
    with pytest.raises(TransientDeliveryError) as raised:
        sender.send(sample_records(1))
    assert raised.value.attempts == 3 and raised.value.last_status is None and len(sleeps) == 2
    assert "ConnectError" in raised.value.last_error


def test_connection_error_then_the_server_comes_up() -> None:
    port = free_port()
    servers: list[ApiMeterServer] = []

    def start_server_instead_of_sleeping(seconds: float) -> None:
        if not servers:
            servers.append(ApiMeterServer(token=TOKEN, tenant_id=TENANT_ID, port=port).start())

    sender = ApiMeterSender(
        f"http://127.0.0.1:{port}", TOKEN, TENANT_ID, exporter_version="t", sleep=start_server_instead_of_sleeping
    )
    try:
        report = sender.send(sample_records(2))
        assert report.ok and report.batches[0].attempts == 2
        assert servers[0].totals().cost_by_currency == {"USD": expected_totals(sample_rows(2))[4]}
    finally:
        for server in servers:
            server.stop()


@pytest.mark.parametrize(
    "url",
    ["http://meter.example.com", "http://10.0.0.5:8080", "ftp://127.0.0.1", "127.0.0.1:5002"],
)
def test_refuses_plain_http_unless_loopback(url: str) -> None:
    with pytest.raises(ValueError, match="API_METER_URL"):
        ApiMeterSender(url, TOKEN, TENANT_ID, exporter_version="t")


@pytest.mark.parametrize(
    "url", ["https://meter.example.com", "http://127.0.0.1:5002", "http://localhost:5002", "http://[::1]:5002"]
)
def test_accepts_https_and_loopback_http(url: str) -> None:
    assert ApiMeterSender(url, TOKEN, TENANT_ID, exporter_version="t").endpoint == url + "/v1/usage"


def test_refuses_a_tenant_that_is_not_a_uuid() -> None:
    with pytest.raises(ValueError, match="API_METER_TENANT_ID: expected a UUID"):
        ApiMeterSender("https://meter.example.com", TOKEN, "tenant-1", exporter_version="t")


def test_cost_arrives_exact(meter: ApiMeterServer, make_sender: MakeSender) -> None:
    records = sample_records(1)
    records[0]["cost_actual"] = Decimal("123456789012345678.0123456789")
    make_sender().send(records)
    (stored,) = meter.records().values()
    assert stored.cost_actual == Decimal("123456789012345678.0123456789")
