"""The unauthenticated account endpoints: setup, email/password login and token refresh.

Shapes follow dify_meter_tests/fixtures/dify-1.12.1 (08-*) for 1.9.2+, and Dify's source for 1.9.1 and older
(not recorded). Bodies that are not JSON, and missing fields, get guessed error bodies: a 400
`bad_request` and Dify's 400 `invalid_param` text of the pydantic error.
"""

from __future__ import annotations

import json
from datetime import UTC
from typing import Any

from pydantic import BaseModel

from dify_meter.sandbox.dify.exchange import Call
from dify_meter.sandbox.dify.queries import bad_request, validate
from dify_meter.sandbox.dify.tokens import (
    ACCESS_COOKIE,
    CSRF_COOKIE,
    REFRESH_COOKIE,
    InvalidRefreshToken,
    TokenPair,
    request_cookies,
    set_cookie,
)

Json = dict[str, Any]


class RefreshPayload(BaseModel):
    refresh_token: str


def _json_body(call: Call) -> Any:
    if not call.body:
        return None
    try:
        return json.loads(call.body)
    except ValueError as error:
        raise bad_request(f"Failed to decode JSON object: {error}") from None


def _set_cookies(call: Call, pair: TokenPair, order: tuple[str, ...]) -> None:
    tokens = call.accounts.tokens
    values = {ACCESS_COOKIE: pair.access_token, REFRESH_COOKIE: pair.refresh_token, CSRF_COOKIE: pair.csrf_token}
    for name in order:
        lifetime = tokens.refresh_ttl if name == REFRESH_COOKIE else tokens.access_ttl
        call.set_cookies.append(set_cookie(name, values[name], lifetime, call.now, http_only=name != CSRF_COOKIE))


def _token_data(pair: TokenPair) -> Json:
    return {"access_token": pair.access_token, "refresh_token": pair.refresh_token}


def get_setup(call: Call) -> tuple[int, Json]:
    if not call.accounts.set_up:
        return 200, {"step": "not_started", "setup_at": None}
    setup_at = call.ws.tenant.setup_at.astimezone(UTC).replace(tzinfo=None)  # Dify renders it naive, in UTC
    return 200, {"step": "finished", "setup_at": setup_at.isoformat()}


def post_setup(call: Call) -> tuple[int, Json]:
    call.accounts.setup(_json_body(call))
    return 201, {"result": "success"}


def post_login(call: Call) -> tuple[int, Json]:
    pair = call.accounts.login(_json_body(call))
    if not call.accounts.behaviour.cookies:
        return 200, {"result": "success", "data": _token_data(pair)}
    _set_cookies(call, pair, (ACCESS_COOKIE, REFRESH_COOKIE, CSRF_COOKIE))
    return 200, {"result": "success"}


def post_refresh_token(call: Call) -> tuple[int, Json]:
    """1.9.2+: the refresh cookie alone (no CSRF header); older: JSON `{"refresh_token"}`. Either way the
    used refresh token stops working and a new one comes back."""
    tokens = call.accounts.tokens
    if not call.accounts.behaviour.cookies:
        form = validate(RefreshPayload, _json_body(call))
        try:
            _, pair = tokens.rotate(form.refresh_token)
        except InvalidRefreshToken as error:
            return 401, {"result": "fail", "data": str(error)}
        return 200, {"result": "success", "data": _token_data(pair)}
    refresh_token = request_cookies(call.headers).get(REFRESH_COOKIE)
    if not refresh_token:
        return 401, {"result": "fail", "message": "No refresh token provided"}
    try:
        _, pair = tokens.rotate(refresh_token)
    except InvalidRefreshToken as error:
        return 401, {"result": "fail", "message": str(error)}
    _set_cookies(call, pair, (CSRF_COOKIE, ACCESS_COOKIE, REFRESH_COOKIE))
    return 200, {"result": "success"}
