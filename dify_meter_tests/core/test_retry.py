"""The policy's numbers per service; the retries themselves run against real servers in the client and
sender tests."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from dify_meter.core.retry import DIFY_CONSOLE_RETRY, RetryPolicy, api_meter_retry, retry_after_seconds


class _Told(Exception):
    """A failure whose server said how long to wait, as the clients' 429 errors do."""

    def __init__(self, retry_after: float) -> None:
        super().__init__("told")
        self.retry_after = retry_after


def _waits(policy: RetryPolicy, failure: Exception) -> list[float]:
    """The waits `policy` sleeps while every try fails with `failure`, until it gives up."""
    sleeps: list[float] = []

    def fail() -> None:
        raise failure

    retrying = replace(policy, sleep=sleeps.append).retrying(lambda error: error is failure, lambda state: None)
    with pytest.raises(type(failure)):
        retrying(fail)
    return sleeps


def test_retry_after_is_seconds_or_an_http_date() -> None:
    now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    assert retry_after_seconds("7", now) == 7.0
    assert retry_after_seconds(format_datetime(now + timedelta(seconds=90), usegmt=True), now) == 90.0
    assert retry_after_seconds(format_datetime(now - timedelta(seconds=90), usegmt=True), now) == 0.0
    assert retry_after_seconds("soon", now) is None
    assert retry_after_seconds(None, now) is None


def test_dify_stops_at_its_total_budget() -> None:
    assert _waits(DIFY_CONSOLE_RETRY, _Told(50.0)) == [50.0, 50.0]  # a third wait would pass 120 s in all
    assert _waits(DIFY_CONSOLE_RETRY, _Told(600.0)) == [60.0, 60.0]  # cut to 60 s each
    assert _waits(DIFY_CONSOLE_RETRY, _Told(1.0)) == [1.0] * 4  # five tries at most


def test_api_meter_waits_as_told_for_every_retry() -> None:
    assert _waits(api_meter_retry(4), _Told(250.0)) == [250.0] * 4  # 1000 s in all: no total budget
    assert _waits(api_meter_retry(1), _Told(86400.0)) == [300.0]  # only a broken header is cut
    assert _waits(api_meter_retry(0), _Told(1.0)) == []


def test_without_retry_after_the_backoff_doubles_with_jitter_up_to_its_cap() -> None:
    sleeps = _waits(api_meter_retry(8), httpx.ConnectError("refused"))
    floors = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0]
    assert all(floor <= wait <= min(floor + 1.0, 60.0) for floor, wait in zip(floors, sleeps, strict=True))


def test_a_policy_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="max_attempts must be at least 1"):
        api_meter_retry(-1)
    with pytest.raises(ValueError, match="max_total_wait must be 0 or more seconds"):
        RetryPolicy(max_attempts=1, backoff_initial=0, backoff_max=0, max_retry_after=0, max_total_wait=-1)
