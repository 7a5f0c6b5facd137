"""Who a console request acts as, and setup, login and refresh, in the behaviours that depend on Dify's version.

- 1.11.2+: login `password` is Base64 of the password (plain: 401 "Invalid encrypted data"); the answer is
  `{"result":"success"}` with cookies access_token, refresh_token, csrf_token; every authenticated call
  sends the cookies and header `X-CSRF-Token` equal to the csrf cookie; `POST /refresh-token` takes the
  refresh cookie alone and sets three new cookies.
- 1.9.2 to 1.11.1: the same with the plain password (Base64 is taken as the password: wrong password).
- 1.9.1 and older: plain password; the answer is `{"result":"success","data":{access_token, refresh_token}}`;
  calls send `Authorization: Bearer <access_token>`; refresh takes JSON `{"refresh_token"}`, answers `data`.

The admin API key (bearer key + `X-WORKSPACE-ID`) works in every version and acts as the workspace owner.
Messages are Dify's (recorded in dify_meter_tests/fixtures where one exists, else from Dify's source): a wrong email
or password is 401 `authentication_failed` "Invalid email or password."; five wrong passwords in a row lock
that email for 24 h with 429 `email_code_login_limit`, as Dify's login error rate limit does.
"""

from __future__ import annotations

import base64
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel

from dify_meter.sandbox.dify.queries import ApiError, validate
from dify_meter.sandbox.dify.tables import Account
from dify_meter.sandbox.dify.tokens import ACCESS_COOKIE, CSRF_COOKIE, Clock, SessionTokens, TokenPair, request_cookies
from dify_meter.sandbox.dify.workspace import Workspace

AuthVia = Literal["admin_key", "cookie", "bearer"]

NO_TOKEN = ApiError(401, "unauthorized", "Invalid Authorization token.")
BAD_AUTH_HEADER = ApiError(
    401, "unauthorized", "Invalid Authorization header format. Expected 'Bearer <api-key>' format."
)
CSRF_INVALID = ApiError(401, "unauthorized", "CSRF token is missing or invalid.")
LOGIN_FAILED = ApiError(401, "authentication_failed", "Invalid email or password.")
NOT_BASE64 = ApiError(401, "authentication_failed", "Invalid encrypted data")
LOGIN_LOCKED = ApiError(429, "email_code_login_limit", "Too many incorrect password attempts. Please try again later.")
NOT_SET_UP = ApiError(
    401,
    "not_setup",
    "Dify has not been initialized and installed yet. "
    "Please proceed with the initialization and installation process first.",
)
ALREADY_SET_UP = ApiError(
    403,
    "already_setup",
    "Dify has been successfully installed. Please refresh the page or return to the dashboard homepage.",
)
LOGIN_ERROR_LIMIT = 5
LOGIN_LOCKOUT = timedelta(hours=24)
_VERSION = re.compile(r"(\d+)\.(\d+)\.(\d+)")


@dataclass(frozen=True)
class LoginBehaviour:
    version: str
    cookies: bool  # 1.9.2+: tokens only in cookies, CSRF header required
    base64_password: bool  # 1.11.2+: login takes Base64 of the password

    @classmethod
    def of(cls, version: str) -> LoginBehaviour:
        found = _VERSION.fullmatch(version)
        if found is None:
            raise ValueError(f"a Dify version looks like 1.12.1, got {version!r}")
        number = tuple(int(part) for part in found.groups())
        return cls(version, cookies=number >= (1, 9, 2), base64_password=number >= (1, 11, 2))


class LoginPayload(BaseModel):
    email: str
    password: str
    remember_me: bool = False
    invite_token: str | None = None


class SetupPayload(BaseModel):
    email: str
    name: str
    password: str
    language: str | None = None


class AccountService:
    """Setup state, the one email/password account, its failed logins, and request authentication."""

    def __init__(
        self,
        workspace: Workspace,
        behaviour: LoginBehaviour,
        tokens: SessionTokens,
        clock: Clock,
        *,
        api_key: str,
        email: str | None,
        password: str | None,
        set_up: bool,
    ) -> None:
        if email is not None and not password:
            raise ValueError("an email login needs a password as well")
        self.workspace, self.behaviour, self.tokens = workspace, behaviour, tokens
        self.api_key = api_key
        self.set_up = set_up
        self._clock = clock
        self._lock = threading.Lock()
        self._failures: dict[str, tuple[int, datetime]] = {}  # email -> (failed logins in a row, last one)
        self.login_account: Account | None = None
        self.password: str | None = None
        if password:
            self._set_login(email or workspace.owner.email, password)

    def _set_login(self, email: str, password: str) -> None:
        """The account with that email logs in; with no such account, the owner takes the email."""
        accounts = self.workspace.accounts.values()
        account = next((a for a in accounts if a.email.lower() == email.lower()), None)
        if account is None:
            account = self.workspace.owner
            account.email = email
        self.login_account, self.password = account, password

    # --- authentication ----------------------------------------------------------------------------

    def authenticate(self, headers: Mapping[str, str]) -> tuple[Account, AuthVia]:
        """The account a console request acts as, checked in Dify's order; raises the 401 Dify answers."""
        bearer = _bearer(headers.get("authorization"))
        if bearer is not None and bearer == self.api_key and headers.get("x-workspace-id") == self.workspace.tenant.id:
            return self.workspace.owner, "admin_key"
        cookies = request_cookies(headers) if self.behaviour.cookies else {}
        via: AuthVia = "bearer"
        token = bearer
        if cookies.get(ACCESS_COOKIE):  # Dify 1.9.2+ reads the cookie first, then the header
            token, via = cookies[ACCESS_COOKIE], "cookie"
        if not token:
            raise NO_TOKEN
        account = self.workspace.accounts.get(self.tokens.account_of(token))
        if account is None:
            raise NO_TOKEN
        if self.behaviour.cookies:
            csrf = headers.get("x-csrf-token")
            if not csrf or csrf != cookies.get(CSRF_COOKIE) or not self.tokens.csrf_valid(csrf, account.id):
                raise CSRF_INVALID
        return account, via

    # --- account endpoints -------------------------------------------------------------------------

    def login(self, payload: Any) -> TokenPair:
        if self.behaviour.base64_password and isinstance(payload, dict) and payload.get("password"):
            decoded = _from_base64(payload["password"])  # Dify's decrypt_password_field, before validation
            if decoded is None:
                raise NOT_BASE64
            payload = {**payload, "password": decoded}
        form = validate(LoginPayload, payload)
        email = form.email.lower()
        with self._lock:
            failures, last = self._failures.get(email, (0, self._clock()))
            if failures >= LOGIN_ERROR_LIMIT and self._clock() - last < LOGIN_LOCKOUT:
                raise LOGIN_LOCKED
            account = self.login_account
            if account is None or email != account.email.lower() or form.password != self.password:
                self._failures[email] = (failures + 1, self._clock())
                raise LOGIN_FAILED
            self._failures.pop(email, None)
        now = self._clock().replace(microsecond=0)
        account.last_login_at, account.last_login_ip, account.last_active_at = now, "127.0.0.1", now
        return self.tokens.issue(account.id)

    def setup(self, payload: Any) -> None:
        """POST /setup: names the owner and sets the password that logs in from then on (plain, in every version)."""
        if self.set_up:
            raise ALREADY_SET_UP
        form = validate(SetupPayload, payload)
        owner = self.workspace.owner
        owner.name, owner.email = form.name, form.email
        self.login_account, self.password = owner, form.password
        self.workspace.tenant.setup_at = self._clock().replace(microsecond=0)
        self.set_up = True


def _bearer(header: str | None) -> str | None:
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise BAD_AUTH_HEADER
    return token.strip()


def _from_base64(value: object) -> str | None:
    """Dify 1.11.2+ FieldEncryption: Base64 (non-alphabet characters skipped) of UTF-8, else None."""
    try:
        return base64.b64decode(value).decode("utf-8")  # type: ignore[arg-type]
    except (ValueError, TypeError):  # binascii.Error and UnicodeDecodeError are ValueErrors
        return None
