"""Login forms per Dify version, the tokens they give, and one renewal however many threads hit a 401."""

from __future__ import annotations

import base64
import threading

import httpx
import pytest

from dify_meter.sources.console.client import DifyClient
from dify_meter.sources.console.login import (
    LoginForm,
    Tokens,
    TokensMissing,
    login_body,
    login_form_for,
    parse_version,
    tokens_from,
)
from dify_meter.sources.console.parallel import parallel_map
from dify_meter_tests.support.console import NO_WAIT
from dify_meter_tests.support.recorded import recorded
from dify_meter_tests.support.script_server import Answer, ScriptServer, Seen, json_answer

PASSWORD = "pässword-never-shown"
PROFILE = {"id": "u1", "name": "Meter", "email": "meter@example.com", "timezone": "UTC"}


@pytest.mark.parametrize(
    ("version", "form"),
    [
        ("1.12.1", LoginForm.BASE64_COOKIES),
        ("1.11.2", LoginForm.BASE64_COOKIES),
        ("2.0.0-beta.1", LoginForm.BASE64_COOKIES),
        ("1.11.1", LoginForm.PLAIN_COOKIES),
        ("1.10.0", LoginForm.PLAIN_COOKIES),
        ("1.9.2", LoginForm.PLAIN_COOKIES),
        ("1.9.1", LoginForm.PLAIN_BEARER),
        ("1.0.0", LoginForm.PLAIN_BEARER),
        ("0.15.3", LoginForm.PLAIN_BEARER),
        ("v1.9", LoginForm.PLAIN_BEARER),
    ],
)
def test_the_version_picks_the_login_form(version: str, form: LoginForm) -> None:
    assert login_form_for(version) is form


def test_a_version_that_is_not_one_is_refused() -> None:
    for text in ("", "latest", "x1.2"):
        with pytest.raises(ValueError, match="not a Dify version"):
            parse_version(text)


def test_only_1_11_2_and_later_encode_the_password() -> None:
    encoded = login_body(LoginForm.BASE64_COOKIES, "meter@example.com", PASSWORD)
    assert base64.b64decode(encoded["password"]).decode("utf-8") == PASSWORD
    assert encoded == {"email": "meter@example.com", "password": encoded["password"], "remember_me": False}
    for form in (LoginForm.PLAIN_COOKIES, LoginForm.PLAIN_BEARER):
        assert login_body(form, "meter@example.com", PASSWORD)["password"] == PASSWORD


def answer_with_cookies(*set_cookies: str, body: object = None) -> httpx.Response:
    return httpx.Response(
        200, headers=[("Set-Cookie", value) for value in set_cookies], json=body or {"result": "success"}
    )


def test_cookie_tokens_as_recorded_from_1_12_1() -> None:
    attributes = recorded("08-login-base64-200.json")["response"]["headers"]["Set-Cookie"]
    cookies = [header.replace("<redacted>", f"value-{n}") for n, header in enumerate(attributes)]
    tokens = tokens_from(LoginForm.BASE64_COOKIES, answer_with_cookies(*cookies), {"result": "success"})
    assert tokens.request_headers() == {
        "Cookie": "access_token=value-0; refresh_token=value-1; csrf_token=value-2",
        "X-CSRF-Token": "value-2",
    }
    assert tokens.refresh_request() == ({"Cookie": "refresh_token=value-1"}, None)
    assert "value-" not in repr(tokens)

    renewed = tokens.renewed(
        answer_with_cookies("csrf_token=new-csrf; Path=/", "access_token=new-access; HttpOnly"), {"result": "success"}
    )
    assert renewed.request_headers() == {
        "Cookie": "access_token=new-access; refresh_token=value-1; csrf_token=new-csrf",
        "X-CSRF-Token": "new-csrf",
    }


def test_host_prefixed_cookies_over_https_are_used_as_named() -> None:
    tokens = tokens_from(
        LoginForm.PLAIN_COOKIES,
        answer_with_cookies(
            "__Host-access_token=a; Secure", "__Host-refresh_token=r; Secure", "__Host-csrf_token=c; Secure"
        ),
        None,
    )
    assert tokens.request_headers()["X-CSRF-Token"] == "c"
    assert tokens.refresh_request()[0] == {"Cookie": "__Host-refresh_token=r"}


def test_bearer_tokens_come_from_the_body() -> None:
    body = {"result": "success", "data": {"access_token": "acc", "refresh_token": "ref"}}
    tokens = tokens_from(LoginForm.PLAIN_BEARER, httpx.Response(200, json=body), body)
    assert tokens.request_headers() == {"Authorization": "Bearer acc"}
    assert tokens.refresh_request() == ({}, {"refresh_token": "ref"})
    old = {"result": "success", "data": "only-an-access-token"}  # Dify 0.x
    assert not tokens_from(LoginForm.PLAIN_BEARER, httpx.Response(200, json=old), old).can_refresh()


def test_an_answer_without_the_tokens_says_which_are_missing() -> None:
    with pytest.raises(TokensMissing, match="no csrf_token cookie"):
        tokens_from(LoginForm.BASE64_COOKIES, answer_with_cookies("access_token=a"), None)
    with pytest.raises(TokensMissing, match="no data.access_token"):
        tokens_from(LoginForm.PLAIN_BEARER, httpx.Response(200, json={}), {"result": "success"})
    assert Tokens(LoginForm.BASE64_COOKIES).can_refresh() is False


def test_many_threads_refused_at_once_renew_the_session_once() -> None:
    """Eight requests in flight when the access token expires: one refresh, then all go through."""
    server: ScriptServer
    lock = threading.Lock()
    access = {"current": "access-1"}

    def answer(seen: Seen) -> Answer:
        if seen.path.endswith("/setup"):
            return json_answer({"step": "finished"})
        if seen.path.endswith("/login"):
            return json_answer({"result": "success", "data": {"access_token": "access-1", "refresh_token": "r1"}})
        if seen.path.endswith("/refresh-token"):
            assert seen.json() == {"refresh_token": "r1"}
            with lock:
                access["current"] = "access-2"
            return json_answer({"result": "success", "data": {"access_token": "access-2", "refresh_token": "r2"}})
        if seen.headers.get("authorization") == "Bearer access-1":
            server.wait_until(lambda s: s.in_flight >= 8 or s.answered > 2)  # all eight see the expiry
            return json_answer({"code": "unauthorized", "message": "Token has expired.", "status": 401}, 401)
        assert seen.headers.get("authorization") == f"Bearer {access['current']}"
        return json_answer(PROFILE)

    with (
        ScriptServer(answer, version="1.9.1") as server,
        DifyClient(
            server.base_url, email="meter@example.com", password=PASSWORD, max_concurrency=8, retry=NO_WAIT
        ) as client,
    ):
        profiles = parallel_map(lambda _: client.account_profile(), list(range(8)), max_workers=8)
    assert [profile.email for profile in profiles] == ["meter@example.com"] * 8
    calls = [path.removeprefix("/console/api") for _, path in server.paths()]
    assert calls[:2] == ["/setup", "/login"] and calls.count("/refresh-token") == 1 and calls.count("/login") == 1
    assert calls.count("/account/profile") == 16
