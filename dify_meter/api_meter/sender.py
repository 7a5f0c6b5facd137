"""Sending records to API_Meter: batching, retries of transient failures, 413 splitting.

What each response means and what we do about it is the table of docs/api-meter.md.
The token is held privately and never appears in a repr, a log line or an exception message.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from tenacity import RetryCallState

from dify_meter.api_meter.errors import DeliveryError, TransientDeliveryError
from dify_meter.api_meter.records import build_request, record_key
from dify_meter.api_meter.rejections import explain_rejection
from dify_meter.api_meter.report import RESPONSE_TEXT_LIMIT, BatchResult, SendReport
from dify_meter.core.api_meter_contract import RETRYABLE_STATUSES, USAGE_PATH
from dify_meter.core.retry import API_METER_MAX_RETRY_AFTER, api_meter_retry, retry_after_seconds
from dify_meter.core.validation import canonical_uuid, http_url

logger = logging.getLogger(__name__)

Record = Mapping[str, Any]


class _RetryableAnswer(Exception):
    """A 429 or 5xx answer: worth another try, after Retry-After when the server gave one."""

    def __init__(self, response: httpx.Response, retry_after: float | None) -> None:
        super().__init__(f"HTTP {response.status_code}")
        self.response = response
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class _Outcome:
    """The end of one batch's attempts: a final answer, or the transient failure that exhausted them."""

    response: httpx.Response | None
    failure: BaseException | None
    attempts: int
    attempted_at: datetime


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _checked_endpoint(url: str) -> str:
    try:
        return http_url(url, https_unless_loopback=True) + USAGE_PATH
    except ValueError as error:
        raise ValueError(f"API_METER_URL: {error}") from None


def _checked_tenant(tenant_id: str) -> str:
    try:
        return canonical_uuid(tenant_id)
    except ValueError as error:
        raise ValueError(f"API_METER_TENANT_ID: {error}") from None


class ApiMeterSender:
    def __init__(
        self,
        url: str,
        token: str,
        tenant_id: str,
        *,
        exporter_version: str,
        batch_size: int = 500,
        timeout: float = 30.0,
        max_retries: int = 3,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], datetime] = _utc_now,
        max_retry_after: float = API_METER_MAX_RETRY_AFTER,
    ) -> None:
        if not token:
            raise ValueError("API_METER_TOKEN is empty: set the bearer token API_Meter gave you")
        if batch_size < 1:
            raise ValueError(f"API_METER_BATCH_SIZE must be at least 1, got {batch_size}")
        if max_retries < 0:
            raise ValueError(f"MAX_RETRIES must be 0 or more, got {max_retries}")
        if timeout <= 0:
            raise ValueError(f"API_METER_TIMEOUT_SECONDS must be positive, got {timeout}")
        self.endpoint = _checked_endpoint(url)
        self.tenant_id = _checked_tenant(tenant_id)
        self.exporter_version = exporter_version
        self.batch_size = batch_size
        self.timeout = timeout
        self.max_retries = max_retries
        self.retry = api_meter_retry(max_retries, max_retry_after=max_retry_after, sleep=sleep)
        self._token = token
        self._clock = clock

    def __repr__(self) -> str:
        return f"ApiMeterSender(endpoint={self.endpoint!r}, tenant_id={self.tenant_id!r}, batch_size={self.batch_size})"

    def send(self, records: Sequence[Record], *, on_batch: Callable[[BatchResult], None] | None = None) -> SendReport:
        """Send every record, `batch_size` per request, stopping at the first batch that fails for good.

        Returns the report when everything was delivered; otherwise raises a DeliveryError whose
        `.report` holds the delivered batches, the failed one and the records not attempted.
        `on_batch` is called after each final batch result (delivered or not), e.g. to write the
        ledger as the send goes.
        """
        report = SendReport()
        batches = [list(records[i : i + self.batch_size]) for i in range(0, len(records), self.batch_size)]
        headers = {"Authorization": f"Bearer {self._token}", "Content-Type": "application/json"}
        with httpx.Client(timeout=self.timeout, headers=headers) as client:
            for position, batch in enumerate(batches):
                try:
                    self._send_batch(client, batch, report, on_batch)
                except DeliveryError as error:
                    # This batch's unsent 413 halves and every later batch were never attempted.
                    reported = {id(record) for result in report.batches for record in result.records}
                    remaining = [record for rest in batches[position:] for record in rest]
                    report.not_attempted = [record for record in remaining if id(record) not in reported]
                    error.report = report
                    raise
        return report

    def _send_batch(
        self,
        client: httpx.Client,
        batch: list[Record],
        report: SendReport,
        on_batch: Callable[[BatchResult], None] | None,
    ) -> None:
        outcome = self._attempt(client, batch)
        response = outcome.response
        if response is not None and response.status_code == 413 and len(batch) > 1:
            logger.info("API_Meter: body too large (413) for %d records; sending two halves", len(batch))
            half = len(batch) // 2
            self._send_batch(client, batch[:half], report, on_batch)
            self._send_batch(client, batch[half:], report, on_batch)
            return
        result, error = self._judge(batch, outcome)
        report.batches.append(result)
        if on_batch is not None:
            on_batch(result)
        if error is not None:
            raise error

    def _attempt(self, client: httpx.Client, batch: list[Record]) -> _Outcome:
        body = build_request(
            batch, tenant_id=self.tenant_id, exporter_version=self.exporter_version, export_timestamp=self._clock()
        )
        retrying = self.retry.retrying(_worth_retrying, self._log_retry)
        attempts = 0
        attempted_at = self._clock()
        try:
            for attempt in retrying:
                with attempt:
                    attempts += 1
                    attempted_at = self._clock()
                    response = client.post(self.endpoint, content=body)
                    if response.status_code in RETRYABLE_STATUSES:
                        raise _RetryableAnswer(response, self._retry_after(response))
        except _RetryableAnswer as failure:
            return _Outcome(failure.response, failure, attempts, attempted_at)
        except httpx.TransportError as failure:
            return _Outcome(None, failure, attempts, attempted_at)
        return _Outcome(response, None, attempts, attempted_at)

    def _judge(self, batch: list[Record], outcome: _Outcome) -> tuple[BatchResult, DeliveryError | None]:
        response = outcome.response
        status = response.status_code if response is not None else None
        text = response.text[:RESPONSE_TEXT_LIMIT] if response is not None else ""
        if outcome.failure is not None:
            last_error = _describe_failure(outcome.failure)
            days = sorted({record_key(record).usage_date.isoformat() for record in batch})
            unreachable = isinstance(outcome.failure, httpx.ConnectError | httpx.ConnectTimeout)
            message = (
                f"API_Meter delivery of {len(batch)} records ({', '.join(days)}) failed {outcome.attempts} times "
                f"({self.max_retries} retries) on transient errors; last error: {last_error}. "
                + (
                    f"Could not reach POST {self.endpoint}: check API_METER_URL and that API_Meter is up. "
                    if unreachable
                    else ""
                )
                + "The data is kept: spool the days and replay them later."
            )
            error: DeliveryError = TransientDeliveryError(
                message, attempts=outcome.attempts, last_error=last_error, last_status=status
            )
            return self._result(batch, outcome, status, text, error=message), error
        assert response is not None
        if response.status_code == 200:
            inserted, updated = _counts(response)
            logger.info(
                "API_Meter: %d records delivered (%s inserted, %s updated, %d attempts)",
                len(batch),
                inserted,
                updated,
                outcome.attempts,
            )
            return self._result(batch, outcome, status, text, inserted=inserted, updated=updated), None
        rejection = explain_rejection(response, batch, endpoint=self.endpoint, tenant_id=self.tenant_id)
        logger.error("%s", rejection.message)
        return self._result(batch, outcome, status, text, error=rejection.message), rejection

    @staticmethod
    def _result(
        batch: list[Record],
        outcome: _Outcome,
        status: int | None,
        text: str,
        *,
        inserted: int | None = None,
        updated: int | None = None,
        error: str | None = None,
    ) -> BatchResult:
        return BatchResult(
            records=tuple(batch),
            delivered=error is None,
            status=status,
            inserted=inserted,
            updated=updated,
            attempts=outcome.attempts,
            attempted_at=outcome.attempted_at,
            response_text=text,
            error=error,
        )

    def _retry_after(self, response: httpx.Response) -> float | None:
        """Seconds to wait from a Retry-After header (delay-seconds or HTTP date), None if absent/invalid."""
        if response.status_code != 429:
            return None
        return retry_after_seconds(response.headers.get("Retry-After"), now=self._clock())

    def _log_retry(self, state: RetryCallState) -> None:
        failure = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        logger.warning(
            "API_Meter attempt %d failed (%s); retrying in %.1f s",
            state.attempt_number,
            _describe_failure(failure),
            wait,
        )


def _worth_retrying(failure: BaseException) -> bool:
    return isinstance(failure, _RetryableAnswer | httpx.TransportError)


def _describe_failure(failure: BaseException | None) -> str:
    if isinstance(failure, _RetryableAnswer):
        text = failure.response.text.strip()[:200]
        return f"HTTP {failure.response.status_code}" + (f" {text}" if text else "")
    if isinstance(failure, httpx.TimeoutException):
        return f"timeout ({type(failure).__name__})"
    if failure is None:
        return "unknown"
    return f"{type(failure).__name__}: {failure}"


def _counts(response: httpx.Response) -> tuple[int | None, int | None]:
    try:
        answer = json.loads(response.text)
        inserted, updated = answer["inserted"], answer["updated"]
    except (ValueError, TypeError, KeyError):
        logger.warning("API_Meter answered 200 without inserted/updated counts: %.200s", response.text)
        return None, None
    if not all(isinstance(count, int) for count in (inserted, updated)):
        logger.warning("API_Meter answered 200 with non-integer counts: %.200s", response.text)
        return None, None
    return inserted, updated
