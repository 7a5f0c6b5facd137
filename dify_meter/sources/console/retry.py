"""Which of Dify's answers the client tries again; how long it waits is `DIFY_CONSOLE_RETRY` (core/retry.py).

Transient: 429 (waiting `Retry-After` when Dify sends it), 5xx, and network failures (refused or
dropped connections, timeouts, a body cut short). A 200 whose body is not JSON is retried once
only: a proxy may have garbled one answer, but the same garbage twice is not going to heal.
Everything else (other 4xx, a body of the wrong shape) is answered at once.
"""

from __future__ import annotations

import httpx

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
