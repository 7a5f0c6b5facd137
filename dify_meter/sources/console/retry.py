"""When the Dify client tries a request again, how long it waits, and when it gives up.

Transient: 429 (waiting `Retry-After` when Dify sends it), 5xx, and network failures (refused or
dropped connections, timeouts, a body cut short). A 200 whose body is not JSON is retried once
only: a proxy may have garbled one answer, but the same garbage twice is not going to heal.
Everything else (other 4xx, a body of the wrong shape) is answered at once.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
from tenacity import RetryCallState

TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})
# Statuses that mean "Dify is overloaded": they also lower the client's concurrency.
PUSHBACK_STATUSES = frozenset({429, 503})
# Network failures worth another try; LocalProtocolError or UnsupportedProtocol are our own bugs.
TRANSIENT_NETWORK_ERRORS: tuple[type[httpx.TransportError], ...] = (
    httpx.TimeoutException,
    httpx.NetworkError,
    httpx.RemoteProtocolError,
)
MALFORMED_BODY_ATTEMPTS = 2


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """At most `max_attempts` tries of one request, sleeping at most `max_total_wait` seconds in all."""

    max_attempts: int = 5
    backoff_initial: float = 0.5  # first wait; doubles each retry, plus up to as much jitter
    backoff_max: float = 20.0
    max_retry_after: float = 60.0  # a longer Retry-After is cut to this
    max_total_wait: float = 120.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {self.max_attempts}")
        for name in ("backoff_initial", "backoff_max", "max_retry_after", "max_total_wait"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be 0 or more seconds, got {getattr(self, name)}")

    def wait(self, state: RetryCallState) -> float:
        """Retry-After when the last answer carried one (capped), else exponential backoff with jitter."""
        error = state.outcome.exception() if state.outcome else None
        retry_after = getattr(error, "retry_after", None)
        if retry_after is not None:
            return min(retry_after, self.max_retry_after)
        # tenacity's wait_exponential_jitter, spelled out: its parameter names differ across 8.x and 9.x
        exponential = self.backoff_initial * 2 ** (state.attempt_number - 1)
        return min(exponential + random.uniform(0, self.backoff_initial), self.backoff_max)

    def stop(self, state: RetryCallState) -> bool:
        return (state.attempt_number >= self.max_attempts
                or state.idle_for + (state.upcoming_sleep or 0.0) > self.max_total_wait)
