"""Session tokens as Dify's AccountService keeps them, and the cookies that carry them (Dify 1.9.2+).

Access and CSRF tokens live `access_ttl` (Dify: 60 min), refresh tokens `refresh_ttl` (30 days).
Dify's access and CSRF tokens are JWTs checked against their `exp`; a refresh token is a Redis key
that is deleted when used. Here all three are opaque random strings with an expiry read from the
simulator's clock, which is what a client can observe.
"""

from __future__ import annotations

import math
import secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.cookies import CookieError, SimpleCookie

from dify_meter.sandbox.dify.queries import ApiError

Clock = Callable[[], datetime]  # aware, sub-second: token expiry is checked against it

ACCESS_COOKIE, REFRESH_COOKIE, CSRF_COOKIE = "access_token", "refresh_token", "csrf_token"
INVALID_TOKEN = ApiError(401, "unauthorized", "Invalid token.")
TOKEN_EXPIRED = ApiError(401, "unauthorized", "Token has expired.")


class InvalidRefreshToken(Exception):
    def __init__(self) -> None:
        super().__init__("Invalid refresh token")  # AccountService.refresh_token's message


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    csrf_token: str


@dataclass(frozen=True)
class _Grant:
    account_id: str
    expires_at: datetime


class SessionTokens:
    def __init__(self, clock: Clock, access_ttl: float, refresh_ttl: float) -> None:
        for name, seconds in (("access_token_ttl", access_ttl), ("refresh_token_ttl", refresh_ttl)):
            if not seconds > 0:
                raise ValueError(f"{name} must be a positive number of seconds, got {seconds!r}")
        self._clock = clock
        self.access_ttl = timedelta(seconds=access_ttl)
        self.refresh_ttl = timedelta(seconds=refresh_ttl)
        self._lock = threading.Lock()
        self._access: dict[str, _Grant] = {}
        self._csrf: dict[str, _Grant] = {}
        self._refresh: dict[str, _Grant] = {}

    def issue(self, account_id: str) -> TokenPair:
        now = self._clock()
        pair = TokenPair(secrets.token_urlsafe(32), secrets.token_urlsafe(32), secrets.token_urlsafe(32))
        with self._lock:
            self._access[pair.access_token] = _Grant(account_id, now + self.access_ttl)
            self._csrf[pair.csrf_token] = _Grant(account_id, now + self.access_ttl)
            self._refresh[pair.refresh_token] = _Grant(account_id, now + self.refresh_ttl)
        return pair

    def account_of(self, access_token: str) -> str:
        """The account an access token was issued to, with PassportService.verify's 401s otherwise."""
        with self._lock:
            grant = self._access.get(access_token)
        if grant is None:
            raise INVALID_TOKEN
        if self._clock() >= grant.expires_at:  # PyJWT: expired from the `exp` second on
            raise TOKEN_EXPIRED
        return grant.account_id

    def csrf_valid(self, csrf_token: str, account_id: str) -> bool:
        with self._lock:
            grant = self._csrf.get(csrf_token)
        return grant is not None and grant.account_id == account_id and self._clock() < grant.expires_at

    def rotate(self, refresh_token: str) -> tuple[str, TokenPair]:
        """(account id, a new pair) for a live refresh token, which stops working: Dify deletes it when used."""
        with self._lock:
            grant = self._refresh.pop(refresh_token, None)
        if grant is None or self._clock() >= grant.expires_at:
            raise InvalidRefreshToken()
        return grant.account_id, self.issue(grant.account_id)


def set_cookie(name: str, value: str, lifetime: timedelta, now: datetime, *, http_only: bool = True) -> str:
    """A Set-Cookie value in Werkzeug's shape, as Dify sets its cookies over http (no `__Host-` prefix).

    Max-Age is rounded up to whole seconds (at least 1), so a client keeps the cookie at least as long
    as the server honours the token and sees the server's own 401 once it has expired.
    """
    max_age = max(1, math.ceil(lifetime.total_seconds()))
    expires = format_datetime((now + timedelta(seconds=max_age)).astimezone(UTC), usegmt=True)
    flags = "; HttpOnly" if http_only else ""
    return f"{name}={value}; Expires={expires}; Max-Age={max_age}{flags}; Path=/; SameSite=Lax"


def request_cookies(headers: Mapping[str, str]) -> dict[str, str]:
    """The cookies a request sent (lower-cased header names); a malformed Cookie header counts as none."""
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(headers.get("cookie", ""))
    except CookieError:
        return {}
    return {name: morsel.value for name, morsel in jar.items()}
