"""The two ways the client authenticates (docs/dify-console-api.md, Authentication).

`AdminKeyAuth`: `Authorization: Bearer <DIFY_API_KEY>` + `X-WORKSPACE-ID`; nothing to renew, so a 401
is a wrong key or workspace and the run stops at once.

`PasswordAuth`: a service-account session, opened on the first call in the form the Dify version
asks for. On a 401 the session is renewed once per generation, whichever thread saw it first:
refresh, else log in again; a failed login stops the run with `DifyAuthError`. Credentials and
tokens stay in these objects and in request headers; no message or repr shows them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from dify_meter.sources.console.errors import (
    ADMIN_KEY_HINT,
    DifyAuthError,
    DifyHTTPError,
    DifyResponseError,
    dify_says,
    full_stop,
)
from dify_meter.sources.console.login import LoginForm, Tokens, TokensMissing, login_body, login_form_for, tokens_from

logger = logging.getLogger(__name__)

PASSWORD_HINT = "Check DIFY_EMAIL and DIFY_PASSWORD (an account of the workspace to read)."
# A login refused with 429 is Dify's lock after failed attempts: retrying makes it longer.
LOGIN_TRANSIENT_STATUSES = frozenset({500, 502, 503, 504})


class AnonymousCalls(Protocol):
    """What logging in needs from the transport: allowlisted, retried calls without the session."""

    def call(
        self,
        method: str,
        endpoint: str,
        *,
        json_body: dict[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        transient_statuses: frozenset[int] | None = None,
    ) -> tuple[httpx.Response, Any]: ...


@dataclass(frozen=True, slots=True)
class Session:
    """The headers that authenticate calls now; `generation` grows each time the session is renewed."""

    generation: int
    headers: Mapping[str, str] = field(repr=False)


class AdminKeyAuth:
    renewable = False
    hint = ADMIN_KEY_HINT

    def __init__(self, api_key: str, workspace_id: str) -> None:
        if not api_key:
            raise ValueError("DIFY_API_KEY is empty: set it to Dify's ADMIN_API_KEY")
        if not workspace_id:
            raise ValueError("DIFY_WORKSPACE_ID is empty: set it to the workspace (tenant) id")
        self._session = Session(0, {"Authorization": f"Bearer {api_key}", "X-WORKSPACE-ID": workspace_id})

    def __repr__(self) -> str:
        return "AdminKeyAuth()"

    def session(self, calls: AnonymousCalls) -> Session:
        return self._session

    def renew(self, stale: Session, calls: AnonymousCalls, *, refresh: bool) -> None:
        raise AssertionError("an admin key cannot be renewed: a 401 is final")


class PasswordAuth:
    renewable = True
    hint = PASSWORD_HINT

    def __init__(self, email: str, password: str) -> None:
        if not email:
            raise ValueError("DIFY_EMAIL is empty: set it to the email of the Dify account to log in with")
        if not password:
            raise ValueError("DIFY_PASSWORD is empty: set it to the password of DIFY_EMAIL's account")
        self._email = email
        self._password = password
        self._lock = threading.Lock()
        self._tokens: Tokens | None = None
        self._generation = 0
        self.dify_version: str | None = None
        self.form: LoginForm | None = None
        self.logins = 0
        self.refreshes = 0

    def __repr__(self) -> str:
        return f"PasswordAuth(form={self.form.name if self.form else None})"

    def session(self, calls: AnonymousCalls) -> Session:
        with self._lock:  # one login however many threads ask at once
            if self._tokens is None:
                self._login(calls)
            assert self._tokens is not None
            return Session(self._generation, self._tokens.request_headers())

    def renew(self, stale: Session, calls: AnonymousCalls, *, refresh: bool) -> None:
        """Dify refused `stale`: refresh it (if `refresh`), else log in again. A no-op if another thread
        already renewed it."""
        with self._lock:
            if stale.generation != self._generation:
                return
            if refresh and self._refresh(calls):
                return
            self._login(calls)

    # --- under the lock -----------------------------------------------------------------------------

    def _form(self, calls: AnonymousCalls) -> LoginForm:
        if self.form is None:
            response, _ = calls.call("GET", "/setup")
            version = response.headers.get("X-Version")
            try:
                self.form = login_form_for(version or "")
            except ValueError:
                raise DifyAuthError(
                    f"cannot tell how to log in: GET /setup answered without a Dify version in its X-Version "
                    f"header (got {version!r}). Check that DIFY_API_URL points at Dify itself, or use "
                    "DIFY_API_KEY and DIFY_WORKSPACE_ID instead.",
                    status=response.status_code,
                    code=None,
                    endpoint="/setup",
                    app=None,
                ) from None
            self.dify_version = version
        return self.form

    def _login(self, calls: AnonymousCalls) -> None:
        form = self._form(calls)
        self.logins += 1
        try:
            response, body = calls.call(
                "POST",
                "/login",
                json_body=login_body(form, self._email, self._password),
                transient_statuses=LOGIN_TRANSIENT_STATUSES,
            )
            result = body.get("result") if isinstance(body, dict) else None
            if result != "success":
                raise TokensMissing(f"the answer's result is {result!r}, not 'success'")
            self._tokens = tokens_from(form, response, body)
        except DifyHTTPError as error:
            raise self._login_refused(f"answered {error.status}{dify_says(error.dify_message)}", error) from None
        except (TokensMissing, DifyResponseError) as error:
            raise self._login_refused(f"answered without a session: {error}", None) from None
        self._generation += 1
        logger.info("Dify: logged in (Dify %s, %s)", self.dify_version, form.value)

    def _login_refused(self, what: str, error: DifyHTTPError | None) -> DifyAuthError:
        return DifyAuthError(
            f"{full_stop(f'Dify {self.dify_version} refused the login: POST /login {what}')} {PASSWORD_HINT}",
            status=error.status if error else 200,
            code=error.code if error else None,
            endpoint="/login",
            app=None,
            dify_message=error.dify_message if error else None,
        )

    def _refresh(self, calls: AnonymousCalls) -> bool:
        tokens = self._tokens
        if tokens is None or not tokens.can_refresh():
            return False
        headers, body = tokens.refresh_request()
        try:
            response, answer = calls.call("POST", "/refresh-token", json_body=body, headers=headers)
            self._tokens = tokens.renewed(response, answer)
        except (DifyHTTPError, DifyResponseError, TokensMissing) as error:
            logger.info("Dify: refreshing the session failed (%s); logging in again", error)
            return False
        self.refreshes += 1
        self._generation += 1
        logger.info("Dify: session refreshed")
        return True
