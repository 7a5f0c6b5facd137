"""How a client tries a request again: one policy type, one row of numbers per service.

Each wait is the server's `Retry-After` when its answer carried one (cut to `max_retry_after`), else
exponential backoff with jitter: `backoff_initial` doubled each retry plus up to `backoff_initial` at
random, at most `backoff_max`. Tries stop after `max_attempts`, or before a wait that would take the
waits of one request past `max_total_wait`.

The caps follow each service's contract:
- **Dify console** (`DIFY_CONSOLE_RETRY`, docs/dify-console-api.md): a total budget of 120 s per
  request, at most 5 tries, a Retry-After honoured up to 60 s. The console API promises no rate limit or
  recovery time; a run makes thousands of reads, each holding a concurrency slot while it waits, so a
  Dify that does not recover within the budget fails the run with "run again later", and the next run's
  lookback reads the days again. A Retry-After past the budget ends the tries at once.
- **API_Meter** (`api_meter_retry`, docs/api-meter.md): `MAX_RETRIES` retries, no total budget, and a
  Retry-After is waited as told: the contract says "wait as told, then retry". The 300 s cap only keeps
  a malformed header (a day) from holding a run; an undelivered day is spooled and replayed later.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from tenacity import RetryCallState, Retrying, retry_if_exception


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """At most `max_attempts` tries of one request, sleeping at most `max_total_wait` seconds in all."""

    max_attempts: int
    backoff_initial: float
    backoff_max: float
    max_retry_after: float
    max_total_wait: float = math.inf
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {self.max_attempts}")
        for name in ("backoff_initial", "backoff_max", "max_retry_after", "max_total_wait"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be 0 or more seconds, got {getattr(self, name)}")

    def wait(self, state: RetryCallState) -> float:
        """Retry-After when the last failure carries one (its `retry_after`, capped), else backoff with jitter."""
        error = state.outcome.exception() if state.outcome else None
        retry_after = getattr(error, "retry_after", None)
        if retry_after is not None:
            return min(retry_after, self.max_retry_after)
        # tenacity's wait_exponential_jitter, spelled out: its parameter names differ across 8.x and 9.x
        exponential = self.backoff_initial * 2 ** (state.attempt_number - 1)
        return min(exponential + random.uniform(0, self.backoff_initial), self.backoff_max)

    def stop(self, state: RetryCallState) -> bool:
        return (
            state.attempt_number >= self.max_attempts
            or state.idle_for + (state.upcoming_sleep or 0.0) > self.max_total_wait
        )

    def retrying(
        self, worth_retrying: Callable[[BaseException], bool], before_sleep: Callable[[RetryCallState], None]
    ) -> Retrying:
        """A tenacity loop under this policy that re-raises the last failure once the tries are over."""
        return Retrying(
            stop=self.stop,
            wait=self.wait,
            retry=retry_if_exception(worth_retrying),
            sleep=self.sleep,
            before_sleep=before_sleep,
            reraise=True,
        )


DIFY_CONSOLE_RETRY = RetryPolicy(
    max_attempts=5, backoff_initial=0.5, backoff_max=20.0, max_retry_after=60.0, max_total_wait=120.0
)
API_METER_MAX_RETRY_AFTER = 300.0


def api_meter_retry(
    max_retries: int, *, max_retry_after: float = API_METER_MAX_RETRY_AFTER, sleep: Callable[[float], None] = time.sleep
) -> RetryPolicy:
    """`max_retries` (MAX_RETRIES) retries after the first try; backoff from 1 s to 60 s."""
    return RetryPolicy(
        max_attempts=max_retries + 1,
        backoff_initial=1.0,
        backoff_max=60.0,
        max_retry_after=max_retry_after,
        sleep=sleep,
    )


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header value (delay-seconds or an HTTP date); None if absent or invalid."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # HTTP dates are GMT
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
