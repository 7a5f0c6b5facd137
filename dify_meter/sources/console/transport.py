"""The one door of the Dify client: every request to Dify goes through `ConsoleTransport.call`.

In order, for each call:
1. refuse it unless (method, path) is on the read-only allowlist (nothing is sent then);
2. authenticate it with the current session (logging in first if needed);
3. send it inside a concurrency slot (at most `limit` in flight; 429/503 lower the limit);
4. on a 401 with a renewable session: refresh, else log in again, then send it again;
5. retry transient failures (tenacity: 429 honouring Retry-After, 5xx, network errors, a truncated
   body; a non-JSON 200 once) with exponential backoff and jitter, within a bounded number of
   attempts and a bounded total wait;
6. turn the final failure into a DifyError naming the request, the app and the status.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any

import httpx
from tenacity import RetryCallState

from dify_meter.core.retry import RetryPolicy, retry_after_seconds
from dify_meter.sources.console.allowlist import check_allowed
from dify_meter.sources.console.auth import AdminKeyAuth, PasswordAuth
from dify_meter.sources.console.concurrency import AdaptiveConcurrency
from dify_meter.sources.console.errors import (
    AppLabel,
    DifyConnectionError,
    DifyResponseError,
    describe_request,
    http_error,
)
from dify_meter.sources.console.retry import (
    MALFORMED_BODY_ATTEMPTS,
    PUSHBACK_STATUSES,
    TRANSIENT_NETWORK_ERRORS,
    TRANSIENT_STATUSES,
)

logger = logging.getLogger(__name__)
# httpcore's DEBUG traces print response headers, Set-Cookie tokens included: keep them off unless someone
# set httpcore's level on purpose.
_HTTPCORE = logging.getLogger("httpcore")
if _HTTPCORE.level == logging.NOTSET:
    _HTTPCORE.setLevel(logging.INFO)

Params = Mapping[str, str | int]
RENEWALS_PER_CALL = 2  # refresh, then a fresh login; a 401 after both is final


class _TransientAnswer(Exception):
    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"HTTP {response.status_code}")
        self.response = response
        self.retry_after = (
            retry_after_seconds(response.headers.get("Retry-After")) if response.status_code == 429 else None
        )


class _MalformedBody(Exception):
    def __init__(self, response: httpx.Response, occurrence: int) -> None:
        super().__init__("malformed JSON body")
        self.response = response
        self.occurrence = occurrence


def _worth_retrying(error: BaseException) -> bool:
    if isinstance(error, _MalformedBody):
        return error.occurrence < MALFORMED_BODY_ATTEMPTS
    return isinstance(error, (_TransientAnswer, *TRANSIENT_NETWORK_ERRORS))


class ConsoleTransport:
    def __init__(
        self,
        base_url: str,
        auth: AdminKeyAuth | PasswordAuth,
        *,
        timeout: float,
        max_concurrency: int,
        retry: RetryPolicy,
    ) -> None:
        self.auth = auth
        self.retry = retry
        self.concurrency = AdaptiveConcurrency(max_concurrency)
        self.dify_version: str | None = None  # from X-Version of the latest answer
        self._http = httpx.Client(
            base_url=base_url,
            timeout=timeout,
            limits=httpx.Limits(max_connections=max_concurrency, max_keepalive_connections=max_concurrency),
            follow_redirects=False,  # a redirect would leave the allowlisted path
        )
        self._root = self._http.base_url
        self._lock = threading.Lock()
        self._sent = 0
        self._retries = 0

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ConsoleTransport:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def sent(self) -> int:
        """HTTP requests sent so far (each retry and each login step counts)."""
        with self._lock:
            return self._sent

    @property
    def retries(self) -> int:
        """Requests sent again after a transient failure so far."""
        with self._lock:
            return self._retries

    def call(
        self,
        method: str,
        endpoint: str,
        *,
        path: str | None = None,
        app: AppLabel | None = None,
        params: Params | None = None,
        json_body: dict[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        authenticated: bool = False,
        transient_statuses: frozenset[int] | None = None,
    ) -> tuple[httpx.Response, Any]:
        """Send one request and return the 2xx response with its decoded JSON body.

        `endpoint` names the request in errors (`/apps/{id}`); `path` is what is sent (default: the
        endpoint). Without `authenticated` the request carries only `headers` (login, refresh, setup).
        """
        check_allowed(method, path or endpoint)  # before anything, login included, is sent
        request = describe_request(method, endpoint, app)
        statuses = TRANSIENT_STATUSES if transient_statuses is None else transient_statuses
        malformed = 0
        attempts = 0
        retrying = self.retry.retrying(_worth_retrying, lambda state: self._log_retry(request, state))
        try:
            for attempt in retrying:
                with attempt:
                    attempts += 1
                    if authenticated:
                        response = self._send_authenticated(method, path or endpoint, params, json_body)
                    else:
                        response = self._send(method, path or endpoint, params, json_body, headers or {})
                    if response.status_code in statuses:
                        raise _TransientAnswer(response)
                    if not response.is_success:
                        raise http_error(
                            method,
                            endpoint,
                            app,
                            response.status_code,
                            response.content,
                            auth_hint=self.auth.hint,
                            attempts=attempts,
                        )
                    try:
                        return response, response.json()
                    except ValueError:
                        malformed += 1
                        raise _MalformedBody(response, malformed) from None
        except _TransientAnswer as failure:
            raise http_error(
                method,
                endpoint,
                app,
                failure.response.status_code,
                failure.response.content,
                auth_hint=self.auth.hint,
                attempts=attempts,
                note=self._gave_up_early(failure, attempts),
            ) from None
        except _MalformedBody as failure:
            answer = failure.response
            snippet = answer.text[:80].replace("\n", " ")
            tries = f", {malformed} times in a row" if malformed > 1 else ""
            raise DifyResponseError(
                f"{request}: expected JSON, got {answer.headers.get('content-type', 'no content type')} "
                f"starting with {snippet!r}{tries}. Is a proxy or a maintenance page answering for Dify at "
                f"{str(self._root).rstrip('/')}? Run again once Dify answers normally."
            ) from None
        except httpx.TransportError as failure:
            raise self._connection_error(request, failure, attempts) from None
        raise AssertionError("tenacity ended without a result or an error")  # pragma: no cover

    def _connection_error(self, request: str, failure: httpx.TransportError, attempts: int) -> DifyConnectionError:
        root = str(self._root).rstrip("/")
        retried = f" after {attempts} attempts" if attempts > 1 else ""
        cause = f"({type(failure).__name__}: {failure})"
        if isinstance(failure, httpx.ConnectError | httpx.ConnectTimeout):
            return DifyConnectionError(
                f"{request}: could not reach Dify at {root}{retried} {cause}. Check DIFY_API_URL and that Dify is up."
            )
        return DifyConnectionError(
            f"{request}: Dify at {root} did not answer completely{retried} {cause}. Run again "
            "once Dify and the network to it are stable."
        )

    def _gave_up_early(self, failure: _TransientAnswer, attempts: int) -> str:
        """Why the retries stopped: all attempts failed, or a Retry-After went past the total wait."""
        if failure.retry_after is None or attempts >= self.retry.max_attempts:
            return "Dify did not recover within the retries: run again later."
        return (
            f"Dify asked to retry after {failure.retry_after:.0f} s, past the {self.retry.max_total_wait:.0f} s "
            "this client waits in all for one request: run again later."
        )

    # --- one exchange ---------------------------------------------------------------------------------

    def _send_authenticated(
        self, method: str, path: str, params: Params | None, json_body: dict[str, Any] | None
    ) -> httpx.Response:
        renewals = 0
        while True:
            session = self.auth.session(self)
            response = self._send(method, path, params, json_body, session.headers)
            if response.status_code != 401 or not self.auth.renewable or renewals == RENEWALS_PER_CALL:
                return response
            self.auth.renew(session, self, refresh=renewals == 0)
            renewals += 1

    def _send(
        self,
        method: str,
        path: str,
        params: Params | None,
        json_body: dict[str, Any] | None,
        headers: Mapping[str, str],
    ) -> httpx.Response:
        request = self._http.build_request(method, path, params=params, json=json_body, headers=headers)
        with self.concurrency.slot() as slot:
            with self._lock:
                self._sent += 1
            response = self._http.send(request)  # reads the whole body: a truncated one raises here
        if response.status_code in PUSHBACK_STATUSES:
            self.concurrency.pushed_back(slot)
        elif response.is_success:
            self.concurrency.succeeded()
        version = response.headers.get("X-Version")
        if version:
            self.dify_version = version
        return response

    def _log_retry(self, request: str, state: RetryCallState) -> None:
        with self._lock:
            self._retries += 1
        error = state.outcome.exception() if state.outcome else None
        what = str(error) if isinstance(error, _TransientAnswer | _MalformedBody) else type(error).__name__
        most = MALFORMED_BODY_ATTEMPTS if isinstance(error, _MalformedBody) else self.retry.max_attempts
        logger.warning(
            "Dify: %s: %s; attempt %d of at most %d in %.1f s (concurrency limit %d)",
            request,
            what,
            state.attempt_number + 1,
            most,
            state.upcoming_sleep or 0.0,
            self.concurrency.limit,
        )
