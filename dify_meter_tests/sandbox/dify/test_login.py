"""Email/password login in the three behaviours that depend on the Dify version, token expiry and refresh,
setup, and the admin key in every version; over loopback with httpx, on the recorded fixture workspace."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import httpx
import pytest

from dify_meter.sandbox.dify.fixture_workspace import fixture_workspace
from dify_meter.sandbox.dify.server import DifySimulator
from dify_meter.sandbox.dify.time import utc
from dify_meter_tests.support.fixture_files import SEED_FILE

pytestmark = pytest.mark.integration
EMAIL, PASSWORD = "admin@example.com", "Sandbox-Passw0rd"
DANA = "91000000-0000-4000-8000-000000000001"
LOGIN_TIME = utc(2026, 11, 28, 0, 7, 43)
COOKIE_ERA, PLAIN_COOKIE_ERA, BEARER_ERA = "1.12.1", "1.10.0", "1.9.1"


@contextmanager
def serving(version: str = COOKIE_ERA, **options: object) -> Iterator[tuple[DifySimulator, httpx.Client]]:
    options = {"password": PASSWORD, **options}
    with DifySimulator(fixture_workspace(SEED_FILE), dify_version=version, **options) as dify:  # type: ignore[arg-type]
        dify.set_now(LOGIN_TIME)
        with httpx.Client(base_url=f"{dify.base_url}/console/api", timeout=10) as client:
            yield dify, client


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def login(client: httpx.Client, password: str, email: str = EMAIL) -> httpx.Response:
    return client.post("/login", json={"email": email, "password": password, "remember_me": False})


def csrf(client: httpx.Client) -> dict[str, str]:
    return {"X-CSRF-Token": client.cookies["csrf_token"]}


def error(response: httpx.Response) -> tuple[int, str, str]:
    body = response.json()
    return response.status_code, body["code"], body["message"]


def test_1_11_2_and_later_take_base64_and_answer_with_three_cookies() -> None:
    with serving() as (dify, client):
        plain = login(client, PASSWORD)
        wrong = login(client, b64("not-it-123"))
        stranger = login(client, b64(PASSWORD), email="nobody@example.com")
        right = login(client, b64(PASSWORD))
        owner = dify.workspace.owner
    assert error(plain) == (401, "authentication_failed", "Invalid encrypted data")
    assert error(wrong) == error(stranger) == (401, "authentication_failed", "Invalid email or password.")
    assert right.status_code == 200 and right.json() == {"result": "success"}
    assert right.headers.get_list("set-cookie") == [
        f"access_token={right.cookies['access_token']}; Expires=Sat, 28 Nov 2026 01:07:43 GMT; Max-Age=3600; "
        "HttpOnly; Path=/; SameSite=Lax",
        f"refresh_token={right.cookies['refresh_token']}; Expires=Mon, 28 Dec 2026 00:07:43 GMT; Max-Age=2592000; "
        "HttpOnly; Path=/; SameSite=Lax",
        f"csrf_token={right.cookies['csrf_token']}; Expires=Sat, 28 Nov 2026 01:07:43 GMT; Max-Age=3600; "
        "Path=/; SameSite=Lax",
    ]
    assert owner.last_login_at == LOGIN_TIME


def test_cookie_sessions_need_the_csrf_header_on_every_call() -> None:
    with serving() as (dify, client):
        assert login(client, b64(PASSWORD)).status_code == 200
        without = client.get("/apps", params={"limit": 1})
        mismatched = client.get("/apps", params={"limit": 1}, headers={"X-CSRF-Token": "forged"})
        access = client.cookies["access_token"]
        bearer_alone = httpx.get(f"{dify.base_url}/console/api/apps", headers={"Authorization": f"Bearer {access}"})
        with_csrf = client.get("/apps", params={"limit": 1}, headers=csrf(client))
        profile = client.get("/account/profile", headers=csrf(client))
    csrf_error = (401, "unauthorized", "CSRF token is missing or invalid.")
    assert error(without) == error(mismatched) == error(bearer_alone) == csrf_error
    assert with_csrf.status_code == 200 and with_csrf.json()["total"] == 6
    assert profile.json()["email"] == EMAIL
    assert [(r.path.rsplit("/", 1)[1], r.auth, r.status) for r in dify.request_log] == [
        ("login", None, 200),
        ("apps", None, 401),
        ("apps", None, 401),
        ("apps", None, 401),
        ("apps", "cookie", 200),
        ("profile", "cookie", 200),
    ]


def test_1_9_2_to_1_11_1_take_the_plain_password() -> None:
    with serving(PLAIN_COOKIE_ERA) as (_, client):
        encoded = login(client, b64(PASSWORD))
        plain = login(client, PASSWORD)
        apps = client.get("/apps", headers=csrf(client))
    assert error(encoded) == (401, "authentication_failed", "Invalid email or password.")
    assert plain.status_code == 200 and plain.json() == {"result": "success"}
    assert set(plain.cookies) == {"access_token", "refresh_token", "csrf_token"}
    assert apps.status_code == 200 and apps.headers["X-Version"] == PLAIN_COOKIE_ERA


def test_1_9_1_and_earlier_answer_tokens_in_the_body_and_take_a_bearer() -> None:
    with serving(BEARER_ERA) as (dify, client):
        plain = login(client, PASSWORD)
        tokens = plain.json()["data"]
        apps = client.get("/apps", headers={"Authorization": f"Bearer {tokens['access_token']}"})
        no_token = client.get("/apps")
        refreshed = client.post("/refresh-token", json={"refresh_token": tokens["refresh_token"]})
        reused = client.post("/refresh-token", json={"refresh_token": tokens["refresh_token"]})
        renewed = client.get("/apps", headers={"Authorization": f"Bearer {refreshed.json()['data']['access_token']}"})
    assert plain.status_code == 200 and plain.json()["result"] == "success"
    assert set(tokens) == {"access_token", "refresh_token"} and "set-cookie" not in plain.headers
    assert apps.status_code == 200 and dify.request_log[1].auth == "bearer"
    assert error(no_token) == (401, "unauthorized", "Invalid Authorization token.")
    assert refreshed.status_code == 200 and set(refreshed.json()["data"]) == {"access_token", "refresh_token"}
    assert refreshed.json()["data"]["refresh_token"] != tokens["refresh_token"]
    assert reused.status_code == 401 and reused.json() == {"result": "fail", "data": "Invalid refresh token"}
    assert renewed.status_code == 200


@pytest.mark.parametrize("version", [COOKIE_ERA, PLAIN_COOKIE_ERA, BEARER_ERA, "0.15.3"])
def test_the_admin_key_works_in_every_version_and_every_answer_names_the_version(version: str) -> None:
    with serving(version) as (dify, client):
        answers = [
            client.get("/apps", headers=dify.auth_headers()),
            client.get("/setup"),
            client.get("/apps", headers={"Authorization": "Bearer wrong", "X-WORKSPACE-ID": dify.workspace_id}),
            login(client, "wrong"),
            client.get("/no-such-endpoint"),
        ]
    assert [a.status_code for a in answers] == [200, 200, 401, 401, 404]
    assert {a.headers["X-Version"] for a in answers} == {version}
    assert dify.request_log[0].auth == "admin_key"


def test_an_expired_access_token_is_refused_until_refreshed_and_a_used_refresh_token_is_dead() -> None:
    with serving() as (dify, client):
        login(client, b64(PASSWORD))
        first_refresh = client.cookies["refresh_token"]
        dify.set_now(LOGIN_TIME + timedelta(seconds=3599))
        still_valid = client.get("/apps", headers=csrf(client))
        dify.set_now(LOGIN_TIME + timedelta(seconds=3600))
        expired = client.get("/apps", headers=csrf(client))
        refreshed = client.post("/refresh-token", headers={"Cookie": f"refresh_token={first_refresh}"})
        client.cookies.clear()
        client.cookies.update(refreshed.cookies)
        renewed = client.get("/apps", headers=csrf(client))
        reused = client.post("/refresh-token", headers={"Cookie": f"refresh_token={first_refresh}"})
        missing = httpx.post(f"{dify.base_url}/console/api/refresh-token")
    assert still_valid.status_code == 200
    assert error(expired) == (401, "unauthorized", "Token has expired.")
    assert refreshed.status_code == 200 and refreshed.json() == {"result": "success"}
    assert [c.split("=", 1)[0] for c in refreshed.headers.get_list("set-cookie")] == [
        "csrf_token",
        "access_token",
        "refresh_token",
    ]
    assert "Expires=Sat, 28 Nov 2026 02:07:43 GMT; Max-Age=3600" in refreshed.headers["set-cookie"]
    assert refreshed.cookies["refresh_token"] != first_refresh
    assert renewed.status_code == 200
    assert reused.status_code == 401 and reused.json() == {"result": "fail", "message": "Invalid refresh token"}
    assert missing.status_code == 401 and missing.json() == {"result": "fail", "message": "No refresh token provided"}


def test_refresh_tokens_expire_after_their_own_lifetime() -> None:
    with serving(access_token_ttl=60, refresh_token_ttl=600) as (dify, client):
        login(client, b64(PASSWORD))
        refresh = client.cookies["refresh_token"]
        dify.set_now(LOGIN_TIME + timedelta(seconds=90))
        expired_access = client.get("/apps", headers=csrf(client))
        dify.set_now(LOGIN_TIME + timedelta(seconds=600))
        expired_refresh = client.post("/refresh-token", headers={"Cookie": f"refresh_token={refresh}"})
    assert error(expired_access)[2] == "Token has expired."
    assert expired_refresh.status_code == 401 and expired_refresh.json()["message"] == "Invalid refresh token"


def test_five_wrong_passwords_lock_the_email() -> None:
    with serving() as (_, client):
        wrong = [login(client, b64(f"wrong-{n}")).status_code for n in range(5)]
        locked = login(client, b64(PASSWORD))
    assert wrong == [401] * 5
    assert error(locked) == (
        429,
        "email_code_login_limit",
        "Too many incorrect password attempts. Please try again later.",
    )


def test_a_member_logs_in_as_themselves() -> None:
    with serving(email="dana@example.com") as (dify, client):
        assert login(client, b64(PASSWORD), email="Dana@Example.com").status_code == 200
        profile = client.get("/account/profile", headers=csrf(client)).json()
    assert (profile["id"], profile["timezone"]) == (DANA, dify.workspace.accounts[DANA].timezone)
    assert dify.email == "dana@example.com"


def test_setup_before_anything_else() -> None:
    with serving(password=None, set_up=False) as (dify, client):
        before = client.get("/setup").json()
        apps = client.get("/apps", headers=dify.auth_headers())
        early_login = login(client, PASSWORD, email="ops@example.com")
        setup = client.post("/setup", json={"email": "ops@example.com", "name": "Ops", "password": PASSWORD})
        again = client.post("/setup", json={"email": "ops@example.com", "name": "Ops", "password": PASSWORD})
        after = client.get("/setup").json()
        logged_in = login(client, b64(PASSWORD), email="ops@example.com")
        profile = client.get("/account/profile", headers=csrf(client)).json()
    assert before == {"step": "not_started", "setup_at": None}
    assert error(apps)[:2] == error(early_login)[:2] == (401, "not_setup")
    assert setup.status_code == 201 and setup.json() == {"result": "success"}
    assert error(again)[:2] == (403, "already_setup")
    assert after == {"step": "finished", "setup_at": "2026-11-28T00:07:43"}
    assert logged_in.status_code == 200 and (profile["email"], profile["name"]) == ("ops@example.com", "Ops")


def test_bad_options_are_refused() -> None:
    with pytest.raises(ValueError, match="looks like 1.12.1"):
        DifySimulator(fixture_workspace(SEED_FILE), dify_version="latest")
    with pytest.raises(ValueError, match="needs a password"):
        DifySimulator(fixture_workspace(SEED_FILE), email="admin@example.com")
    with pytest.raises(ValueError, match="access_token_ttl"):
        DifySimulator(fixture_workspace(SEED_FILE), access_token_ttl=0)
