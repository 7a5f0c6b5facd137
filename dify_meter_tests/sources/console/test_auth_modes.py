"""Every way of authenticating, against the Dify simulator over loopback: a full extraction equals the ground
truth in each Dify version's login form, through token expiry, refresh failure and re-login; bad credentials
stop with a clear error that shows no secret."""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta

import pytest

from dify_meter.core.event import EVENT_COLUMNS, UsageEvent
from dify_meter.core.store import DuckDBStore
from dify_meter.defs.resources import build_resources
from dify_meter.sandbox.dify.exchange import RequestRecord
from dify_meter.sandbox.dify.generate import generate_workspace
from dify_meter.sandbox.dify.server import DifySimulator
from dify_meter.settings import load_settings
from dify_meter.sources.console.auth import AdminKeyAuth, PasswordAuth
from dify_meter.sources.console.client import DifyClient
from dify_meter.sources.console.errors import DifyAuthError
from dify_meter_tests.support.console import NO_WAIT, FetchedEvents, assert_same_events, fetch_events
from dify_meter_tests.support.settings import refresh_raw

pytestmark = pytest.mark.integration

FIRST = date(2026, 6, 1)
WINDOW = (datetime(2026, 6, 2, tzinfo=UTC), datetime(2026, 6, 3, tzinfo=UTC))
CLOCK = datetime(2026, 6, 10, 12, tzinfo=UTC)  # after every generated row
EMAIL = "meter@example.com"
PASSWORD = "correct horse battery staple"
ADMIN_KEY = "sandbox-admin-key-secret"
VIA = {"1.12.1": "cookie", "1.10.0": "cookie", "1.9.1": "bearer"}


@contextmanager
def serving(version: str = "1.12.1", **options: float) -> Iterator[DifySimulator]:
    workspace = generate_workspace(3, FIRST, 3)
    with DifySimulator(
        workspace, api_key=ADMIN_KEY, dify_version=version, email=EMAIL, password=PASSWORD, **options
    ) as dify:  # type: ignore[arg-type]
        dify.set_now(CLOCK)
        yield dify


def login_client(dify: DifySimulator, password: str = PASSWORD) -> DifyClient:
    return DifyClient(dify.base_url, email=EMAIL, password=password, timeout=10, max_concurrency=4, retry=NO_WAIT)


def fetch(client: DifyClient) -> FetchedEvents:
    with client:
        return fetch_events(client, *WINDOW, timezone="UTC")


def calls(dify: DifySimulator, suffix: str) -> list[RequestRecord]:
    return [record for record in dify.request_log if record.path.endswith(suffix)]


def data_records(dify: DifySimulator) -> list[RequestRecord]:
    return [record for record in dify.request_log if "/apps" in record.path or record.path.endswith("/profile")]


def test_the_admin_key_reads_everything_and_never_logs_in() -> None:
    with serving() as dify:
        result = fetch(DifyClient(dify.base_url, api_key=ADMIN_KEY, workspace_id=dify.workspace_id, retry=NO_WAIT))
        truth = dify.workspace.ground_truth(*WINDOW, "UTC")
    assert truth and result.apps_read > 5
    assert_same_events(result.events, truth)
    assert {record.auth for record in dify.request_log} == {"admin_key"}
    assert calls(dify, "/login") == [] and calls(dify, "/setup") == []


@pytest.mark.parametrize("version", ["1.12.1", "1.10.0", "1.9.1"])
def test_login_in_the_form_of_each_version_reads_the_ground_truth(version: str) -> None:
    with serving(version) as dify:
        client = login_client(dify)
        result = fetch(client)
        truth = dify.workspace.ground_truth(*WINDOW, "UTC")
    assert_same_events(result.events, truth)
    assert [r.path for r in dify.request_log[:2]] == ["/console/api/setup", "/console/api/login"]
    assert [r.status for r in calls(dify, "/login")] == [200] and calls(dify, "/refresh-token") == []
    assert {record.auth for record in data_records(dify)} == {VIA[version]}
    assert isinstance(client.auth, PasswordAuth) and client.auth.dify_version == version
    assert result.requests == len(dify.request_log)


@pytest.mark.parametrize("version", ["1.12.1", "1.9.1"])
def test_an_access_token_that_expires_mid_run_is_refreshed_and_the_result_stays_exact(
    version: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with serving(version) as dify:
        dify.mutate_on("/chat-messages", 5, lambda ws: dify.set_now(CLOCK + timedelta(hours=2)))
        client = login_client(dify)
        result = fetch(client)
        truth = dify.workspace.ground_truth(*WINDOW, "UTC")
    assert_same_events(result.events, truth)
    assert [r.status for r in calls(dify, "/refresh-token")] == [200]
    assert [r.status for r in calls(dify, "/login")] == [200]
    expired = [record for record in data_records(dify) if record.status == 401]
    assert 1 <= len(expired) <= 4  # the requests in flight when the token expired, each sent again
    assert isinstance(client.auth, PasswordAuth) and (client.auth.logins, client.auth.refreshes) == (1, 1)
    secrets = [
        PASSWORD,
        base64.b64encode(PASSWORD.encode()).decode(),
        "Bearer ",
        "access_token=",
        "csrf_token=",
        "refresh_token=",
    ]
    assert caplog.text and [secret for secret in secrets if secret in caplog.text] == []


def test_a_refresh_that_fails_logs_in_again() -> None:
    with serving(refresh_token_ttl=1800) as dify:
        dify.mutate_on("/chat-messages", 5, lambda ws: dify.set_now(CLOCK + timedelta(hours=2)))
        result = fetch(login_client(dify))
        truth = dify.workspace.ground_truth(*WINDOW, "UTC")
    assert_same_events(result.events, truth)
    assert [r.status for r in calls(dify, "/refresh-token")] == [401]
    assert [r.status for r in calls(dify, "/login")] == [200, 200]


def test_a_wrong_password_stops_at_once_with_a_clear_error() -> None:
    with serving() as dify, pytest.raises(DifyAuthError) as caught:
        fetch(login_client(dify, password="wrong password"))
    assert str(caught.value) == (
        "Dify 1.12.1 refused the login: POST /login answered 401: Dify says: Invalid email or "
        "password. Check DIFY_EMAIL and DIFY_PASSWORD (an account of the workspace to read)."
    )
    assert "wrong password" not in str(caught.value)
    assert [r.path for r in dify.request_log] == ["/console/api/setup", "/console/api/login"]  # no retry of a 401


def test_a_locked_login_is_not_retried() -> None:
    with serving() as dify:
        for _ in range(5):
            with pytest.raises(DifyAuthError):
                fetch(login_client(dify, password="wrong password"))
        with pytest.raises(DifyAuthError) as caught:
            fetch(login_client(dify))
    assert str(caught.value) == (
        "Dify 1.12.1 refused the login: POST /login answered 429: Dify says: Too many incorrect password attempts. "
        "Please try again later. Check DIFY_EMAIL and DIFY_PASSWORD (an account of the workspace to read)."
    )
    assert len(calls(dify, "/login")) == 6


def test_a_session_dify_keeps_refusing_stops_after_a_refresh_and_a_new_login() -> None:
    with serving() as dify:
        dify.intercept(
            lambda request: (
                (401, {"code": "unauthorized", "message": "Unauthorized.", "status": 401})
                if request.path.endswith("/account/profile")
                else None
            )
        )
        with pytest.raises(DifyAuthError) as caught:
            fetch(login_client(dify))
    assert str(caught.value) == (
        "GET /account/profile was refused with 401: Dify says: Unauthorized. Check "
        "DIFY_EMAIL and DIFY_PASSWORD (an account of the workspace to read)."
    )
    assert [r.path.removeprefix("/console/api") for r in dify.request_log] == [
        "/setup",
        "/login",
        "/account/profile",
        "/refresh-token",
        "/account/profile",
        "/login",
        "/account/profile",
    ]


def test_a_wrong_admin_key_is_final_after_one_request() -> None:
    with serving() as dify, pytest.raises(DifyAuthError) as caught:
        fetch(DifyClient(dify.base_url, api_key="not-the-key", workspace_id=dify.workspace_id, retry=NO_WAIT))
    assert str(caught.value) == (
        "GET /account/profile was refused with 401: Dify says: Invalid token. Check DIFY_API_KEY "
        "(Dify's ADMIN_API_KEY) and DIFY_WORKSPACE_ID, and that Dify runs with ADMIN_API_KEY_ENABLE=true."
    )
    assert "not-the-key" not in str(caught.value) and len(dify.request_log) == 1


def test_settings_pick_the_mode_and_collect_logs_in_with_email_and_password(tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = DuckDBStore(tmp_path / "m.duckdb")
    with serving("1.10.0") as dify:
        settings = load_settings(
            _env_file=None,
            dify_api_url=dify.base_url,
            dify_email=EMAIL,
            dify_password=PASSWORD,
            dify_timezone="UTC",
            dify_meter_duckdb=str(store.path),
        )
        with build_resources(settings, secrets_from_env=False).dify.client() as client:
            assert isinstance(client.auth, PasswordAuth) and PASSWORD not in repr(client)
        keyed = load_settings(
            _env_file=None,
            dify_api_url=dify.base_url,
            dify_api_key=ADMIN_KEY,
            dify_workspace_id=dify.workspace_id,
            dify_email=EMAIL,
            dify_password=PASSWORD,
        )
        with build_resources(keyed, secrets_from_env=False).dify.client() as client:
            assert isinstance(client.auth, AdminKeyAuth) and ADMIN_KEY not in repr(client)
        refresh = refresh_raw(settings, store, *WINDOW)
        truth = dify.workspace.ground_truth(*WINDOW, "UTC")
    with store.connect_read_only() as conn:
        rows = conn.execute(f"SELECT {', '.join(EVENT_COLUMNS)} FROM raw_usage_events").fetchall()
    assert_same_events([UsageEvent(*row) for row in rows], truth)
    assert refresh.summary.events == len(truth)
    assert {record.auth for record in data_records(dify)} == {"cookie"}
