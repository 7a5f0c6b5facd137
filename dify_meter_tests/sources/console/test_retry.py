"""Retries of one request over a real loopback socket: what is retried, how long it waits, when it gives up."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from dify_meter.core.retry import DIFY_CONSOLE_RETRY
from dify_meter.sources.console.client import DifyClient
from dify_meter.sources.console.errors import DifyConnectionError, DifyHTTPError, DifyNotFoundError, DifyResponseError
from dify_meter_tests.support.script_server import Answer, ScriptServer, Seen, json_answer

PROFILE = {"id": "u1", "name": "Owner", "email": "owner@example.com", "timezone": "UTC"}
ERROR_503 = {"code": "service_unavailable", "message": "busy", "status": 503}


def scripted(*answers: Answer) -> ScriptServer:
    """A server answering the given answers in order, then the profile for good."""
    queue: Iterator[Answer] = iter(answers)
    return ScriptServer(lambda seen: next(queue, json_answer(PROFILE)))


def client_of(server: ScriptServer, sleeps: list[float], **policy: float) -> DifyClient:
    return DifyClient(
        server.base_url,
        api_key="secret-key",
        workspace_id="w1",
        timeout=5,
        retry=replace(DIFY_CONSOLE_RETRY, sleep=sleeps.append, **policy),
    )  # type: ignore[arg-type]


def test_a_429_waits_what_retry_after_says_then_succeeds() -> None:
    sleeps: list[float] = []
    with (
        scripted(json_answer({"code": "too_many_requests"}, 429, Retry_After="7")) as server,
        client_of(server, sleeps) as client,
    ):
        assert client.account_profile().timezone == "UTC"
    assert sleeps == [7.0] and len(server.seen) == 2


def test_a_retry_after_http_date_is_honoured() -> None:
    sleeps: list[float] = []
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    with scripted(json_answer({}, 429, Retry_After=later)) as server, client_of(server, sleeps) as client:
        client.account_profile()
    assert len(sleeps) == 1 and 25 <= sleeps[0] <= 30


def test_a_long_retry_after_is_capped_and_one_past_the_total_wait_gives_up() -> None:
    sleeps: list[float] = []
    with scripted(json_answer({}, 429, Retry_After="3600")) as server, client_of(server, sleeps) as client:
        client.account_profile()
    assert sleeps == [60.0]

    sleeps.clear()
    busy = json_answer({"code": "too_many_requests", "message": "slow down", "status": 429}, 429, Retry_After="3600")
    with (
        scripted(busy) as server,
        client_of(server, sleeps, max_retry_after=600, max_total_wait=120) as client,
        pytest.raises(DifyHTTPError) as caught,
    ):
        client.account_profile()
    assert sleeps == [] and len(server.seen) == 1
    assert str(caught.value) == (
        "GET /account/profile failed with HTTP 429 (too_many_requests): Dify says: slow down. "
        "Dify asked to retry after 3600 s, past the 120 s this client waits in all for one "
        "request: run again later."
    )


def test_5xx_are_retried_with_growing_jittered_backoff() -> None:
    sleeps: list[float] = []
    with (
        scripted(
            json_answer(ERROR_503, 503), json_answer({}, 502), json_answer({}, 500), json_answer({}, 504)
        ) as server,
        client_of(server, sleeps) as client,
    ):
        assert client.account_profile().name == "Owner"
    assert len(server.seen) == 5
    assert [int(sleep / 0.5) for sleep in sleeps] == [1, 2, 4, 8]  # 0.5 * 2**n plus up to 0.5 of jitter


def test_attempts_and_total_wait_are_bounded() -> None:
    sleeps: list[float] = []
    with (
        ScriptServer(lambda seen: json_answer(ERROR_503, 503)) as server,
        client_of(server, sleeps) as client,
        pytest.raises(DifyHTTPError) as caught,
    ):
        client.account_profile()
    assert len(server.seen) == 5 and len(sleeps) == 4
    assert str(caught.value) == (
        "GET /account/profile failed with HTTP 503 (service_unavailable) after 5 attempts: "
        "Dify says: busy. Dify did not recover within the retries: run again later."
    )

    sleeps.clear()
    with (
        ScriptServer(lambda seen: json_answer(ERROR_503, 503)) as server,
        client_of(server, sleeps, max_total_wait=2.0) as client,
        pytest.raises(DifyHTTPError),
    ):
        client.account_profile()
    assert sum(sleeps) <= 2.0 and len(server.seen) == len(sleeps) + 1 < 5


@pytest.mark.parametrize(
    "fault", [Answer(200, PROFILE, truncate_to=10), Answer(drop=True)], ids=["truncated body", "dropped connection"]
)
def test_a_cut_answer_is_transient(fault: Answer) -> None:
    sleeps: list[float] = []
    with scripted(fault, fault) as server, client_of(server, sleeps) as client:
        assert client.account_profile().email == "owner@example.com"
    assert len(server.seen) == 3 and len(sleeps) == 2


def test_a_body_cut_every_time_ends_as_a_connection_error() -> None:
    sleeps: list[float] = []
    with (
        ScriptServer(lambda seen: Answer(200, PROFILE, truncate_to=10)) as server,
        client_of(server, sleeps) as client,
        pytest.raises(DifyConnectionError) as caught,
    ):
        client.account_profile()
    assert len(server.seen) == 5
    assert str(caught.value).startswith(
        f"GET /account/profile: Dify at {server.base_url}/console/api did not answer completely after 5 attempts "
        "(RemoteProtocolError: "
    )


def test_a_malformed_json_page_is_retried_once_only() -> None:
    sleeps: list[float] = []
    html = Answer(200, b"<html>502 Bad Gateway</html>", [("Content-Type", "text/html")])
    with scripted(html) as server, client_of(server, sleeps) as client:
        assert client.account_profile().timezone == "UTC"
    assert len(server.seen) == 2

    half = Answer(200, b'{"id": "u1", "name": "Ow')
    with (
        ScriptServer(lambda seen: half) as server,
        client_of(server, sleeps) as client,
        pytest.raises(DifyResponseError) as caught,
    ):
        client.account_profile()
    assert len(server.seen) == 2
    assert str(caught.value) == (
        "GET /account/profile: expected JSON, got application/json starting with "
        '\'{"id": "u1", "name": "Ow\', 2 times in a row. Is a proxy or a maintenance '
        f"page answering for Dify at {server.base_url}/console/api? Run again once Dify "
        "answers normally."
    )


@pytest.mark.parametrize(
    ("status", "error"), [(400, DifyHTTPError), (403, DifyHTTPError), (404, DifyHTTPError), (405, DifyHTTPError)]
)
def test_other_4xx_are_not_retried(status: int, error: type[Exception]) -> None:
    sleeps: list[float] = []
    with (
        ScriptServer(lambda seen: json_answer({"code": "nope", "message": "no", "status": status}, status)) as server,
        client_of(server, sleeps) as client,
        pytest.raises(error),
    ):
        client.account_profile()
    assert len(server.seen) == 1 and sleeps == []


def test_a_404_of_an_app_names_it_after_one_attempt() -> None:
    def answer(seen: Seen) -> Answer:
        if seen.path.endswith("/apps"):
            return json_answer(
                {
                    "page": 1,
                    "limit": 100,
                    "total": 1,
                    "has_more": False,
                    "data": [{"id": "a1", "name": "Gone", "mode": "chat"}],
                }
            )
        return json_answer({"code": "app_not_found", "message": "App not found.", "status": 404}, 404)

    sleeps: list[float] = []
    with (
        ScriptServer(answer) as server,
        client_of(server, sleeps) as client,
        pytest.raises(DifyNotFoundError) as caught,
    ):
        app = next(client.iter_apps())
        client.app_detail(app)
    assert caught.value.app_gone and len(server.seen) == 2
    assert (
        str(caught.value) == "GET /apps/{id} for app 'Gone' (a1) answered 404 (app_not_found): "
        "Dify says: App not found."
    )
