"""The three ways Dify versions log a service account in (docs/dify-console-api.md, Authentication).

- 1.11.2 and later: the password goes Base64-encoded; tokens come back as cookies `access_token`,
  `refresh_token`, `csrf_token` (maybe prefixed `__Host-`); every call sends the cookies plus
  `X-CSRF-Token`; `POST /refresh-token` sends only the refresh cookie.
- 1.9.2 to 1.11.1: the same with the plain password.
- 1.9.1 and earlier: plain password; the tokens are in the body; calls send `Authorization: Bearer`;
  `POST /refresh-token` sends `{"refresh_token": ...}` and gets the same body back.

Token values never leave these objects except in request headers: the reprs hide them.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import httpx

ACCESS_COOKIE, REFRESH_COOKIE, CSRF_COOKIE = "access_token", "refresh_token", "csrf_token"
HOST_PREFIX = "__Host-"  # Dify's cookie names over https without a cookie domain
_VERSION = re.compile(r"\s*v?(\d+)\.(\d+)(?:\.(\d+))?")


class LoginForm(Enum):
    BASE64_COOKIES = "Base64 password, cookies and X-CSRF-Token (Dify 1.11.2+)"
    PLAIN_COOKIES = "plain password, cookies and X-CSRF-Token (Dify 1.9.2 to 1.11.1)"
    PLAIN_BEARER = "plain password, bearer token (Dify 1.9.1 and earlier)"

    @property
    def uses_cookies(self) -> bool:
        return self is not LoginForm.PLAIN_BEARER


def parse_version(text: str) -> tuple[int, int, int]:
    """`1.12.1` (also `v1.9`, `1.11.2-fix.1`) -> (1, 12, 1); ValueError when it is not a version."""
    found = _VERSION.match(text)
    if found is None:
        raise ValueError(f"not a Dify version: {text!r}")
    major, minor, patch = found.groups()
    return int(major), int(minor), int(patch or 0)


def login_form_for(version: str) -> LoginForm:
    number = parse_version(version)
    if number >= (1, 11, 2):
        return LoginForm.BASE64_COOKIES
    if number >= (1, 9, 2):
        return LoginForm.PLAIN_COOKIES
    return LoginForm.PLAIN_BEARER


def login_body(form: LoginForm, email: str, password: str) -> dict[str, Any]:
    sent = base64.b64encode(password.encode("utf-8")).decode("ascii") if form is LoginForm.BASE64_COOKIES else password
    return {"email": email, "password": sent, "remember_me": False}


class TokensMissing(ValueError):
    """A 2xx login or refresh answer without the tokens its form promises; the message names what is missing."""


@dataclass(frozen=True, slots=True)
class Tokens:
    form: LoginForm
    cookies: dict[str, str] = field(default_factory=dict, repr=False)  # cookie name as Dify set it -> value
    access_token: str | None = field(default=None, repr=False)  # bearer form only
    refresh_token: str | None = field(default=None, repr=False)  # bearer form only

    def request_headers(self) -> dict[str, str]:
        """Headers that authenticate one console call."""
        if not self.form.uses_cookies:
            return {"Authorization": f"Bearer {self.access_token}"}
        csrf = _cookie(self.cookies, CSRF_COOKIE)
        return {
            "Cookie": "; ".join(f"{name}={value}" for name, value in self.cookies.items()),
            "X-CSRF-Token": csrf[1] if csrf else "",
        }

    def can_refresh(self) -> bool:
        return (
            (_cookie(self.cookies, REFRESH_COOKIE) is not None)
            if self.form.uses_cookies
            else self.refresh_token is not None
        )

    def refresh_request(self) -> tuple[dict[str, str], dict[str, Any] | None]:
        """Headers and JSON body of `POST /refresh-token`."""
        if not self.form.uses_cookies:
            return {}, {"refresh_token": self.refresh_token}
        found = _cookie(self.cookies, REFRESH_COOKIE)
        return ({"Cookie": f"{found[0]}={found[1]}"} if found else {}), None

    def renewed(self, response: httpx.Response, body: Any) -> Tokens:
        """The tokens after a successful refresh: what Dify sent replaces what it names."""
        fresh = tokens_from(self.form, response, body)
        if not self.form.uses_cookies:
            return fresh
        return Tokens(self.form, cookies={**self.cookies, **fresh.cookies})


def tokens_from(form: LoginForm, response: httpx.Response, body: Any) -> Tokens:
    """The tokens of a successful login or refresh answer; TokensMissing names what is absent."""
    if form.uses_cookies:
        cookies = _set_cookies(response)
        missing = [name for name in (ACCESS_COOKIE, CSRF_COOKIE) if _cookie(cookies, name) is None]
        if missing:
            raise TokensMissing(f"the answer set no {' or '.join(missing)} cookie")
        return Tokens(form, cookies=cookies)
    data = body.get("data") if isinstance(body, dict) else None
    if isinstance(data, str) and data:  # Dify 0.x answered the access token alone
        return Tokens(form, access_token=data)
    access = data.get("access_token") if isinstance(data, dict) else None
    refresh = data.get("refresh_token") if isinstance(data, dict) else None
    if not isinstance(access, str) or not access:
        raise TokensMissing("the answer has no data.access_token")
    return Tokens(form, access_token=access, refresh_token=refresh if isinstance(refresh, str) and refresh else None)


def _set_cookies(response: httpx.Response) -> dict[str, str]:
    cookies: dict[str, str] = {}
    for header in response.headers.get_list("set-cookie"):
        name, _, value = header.split(";", 1)[0].strip().partition("=")
        if name and value:
            cookies[name] = value
    return cookies


def _cookie(cookies: dict[str, str], name: str) -> tuple[str, str] | None:
    for candidate in (name, HOST_PREFIX + name):
        if candidate in cookies:
            return candidate, cookies[candidate]
    return None
