"""The console client over a real loopback socket, answering with recorded Dify 1.12.1 exchanges."""

from __future__ import annotations

import socket
from dataclasses import replace

import pytest

from dify_meter.core.retry import DIFY_CONSOLE_RETRY
from dify_meter.sources.console.client import DifyClient, console_api_root
from dify_meter.sources.console.errors import (
    DifyAuthError,
    DifyConnectionError,
    DifyHTTPError,
    DifyNotFoundError,
    DifyResponseError,
)
from dify_meter.sources.console.messages import read_conversation_messages
from dify_meter.sources.console.models import AppsPage, ChatConversationsPage
from dify_meter_tests.support.recorded import API_KEY, WORKSPACE_ID, ReplayServer, Reply, body

SUPPORT_CHAT = next(app for app in AppsPage.model_validate(body("01-apps-all.json")).data if app.name == "Support Chat")
INVOICE_PIPELINE = next(
    app for app in AppsPage.model_validate(body("01-apps-all.json")).data if app.name == "Invoice Pipeline"
)
CONSOLE = "/console/api"


def client_for(
    server: ReplayServer, *, api_key: str = API_KEY, workspace_id: str = WORKSPACE_ID, sleeps: list[float] | None = None
) -> DifyClient:
    return DifyClient(
        server.base_url,
        api_key=api_key,
        workspace_id=workspace_id,
        timeout=5,
        max_concurrency=2,
        retry=replace(DIFY_CONSOLE_RETRY, sleep=(sleeps if sleeps is not None else []).append),
    )


def test_apps_are_paged_lazily_until_has_more_is_false() -> None:
    with ReplayServer([f"01-apps-page{n}-limit2.json" for n in (1, 2, 3)]) as server, client_for(server) as client:
        apps = client.iter_apps(limit=2)
        first = next(apps)
        assert len(server.requests) == 1 and first.name == "Local Llama"
        names = [first.name] + [app.name for app in apps]
        assert len(names) == 6 and len(set(names)) == 6
        assert [query["page"] for _, _, query in server.requests] == ["1", "2", "3"]
        assert {query["mode"] for _, _, query in server.requests} == {"all"}
        assert client.request_count == 3


def test_chat_conversation_pages_and_the_default_sort_is_sent() -> None:
    names = [f"02-chat-conversations-page{n}-limit2.json" for n in (1, 2, 3)]
    with ReplayServer(names) as server, client_for(server) as client:
        pages = list(client.iter_chat_conversation_pages(SUPPORT_CHAT, limit=2))
    assert [len(page.data) for page in pages] == [2, 2, 2]
    assert pages[1] == ChatConversationsPage.model_validate(body(names[1]))
    assert all(query["sort_by"] == "-updated_at" and "last_id" not in query for _, _, query in server.requests)


def test_messages_page_back_through_first_id() -> None:
    names = [f"03-chat-messages-limit2-page{n}.json" for n in (1, 2, 3)]
    conversation = ChatConversationsPage.model_validate(body("02-chat-conversations-page1-limit2.json")).data[0]
    with ReplayServer(names) as server, client_for(server) as client:
        read = read_conversation_messages(client, SUPPORT_CHAT, conversation, limit=2)
    assert [m.id[-2:] for m in read.messages] == ["01", "02", "03", "04", "05"]
    assert read.shortfall == 0 and conversation.message_count == 5
    assert [query.get("first_id", "")[-2:] for _, _, query in server.requests] == ["", "04", "02"]


def test_the_recorded_same_second_skip_is_reported_at_limit_1_and_absent_at_limit_100() -> None:
    conversation = next(
        c
        for c in ChatConversationsPage.model_validate(body("02-chat-conversations-after-detail-reads.json")).data
        if c.id.endswith("0c")
    )
    names = [
        "03-chat-messages-same-second-limit1-page1.json",
        "03-chat-messages-same-second-limit1-page2.json",
        "03-chat-messages-same-second-limit100.json",
    ]
    with ReplayServer(names) as server, client_for(server) as client:
        tiny = read_conversation_messages(client, SUPPORT_CHAT, conversation, limit=1)
        full = read_conversation_messages(client, SUPPORT_CHAT, conversation)
    assert tiny.shortfall == 1  # the newest second holds two messages: no overlapping cursor exists
    assert full.shortfall == 0 and len(full.messages) == 3


def test_workflow_app_logs_page_two() -> None:
    names = ["05-workflow-app-logs-page1-limit2.json", "05-workflow-app-logs-page2-limit2.json"]
    with (
        ReplayServer(names, ignore=frozenset({"created_at__after", "created_at__before"})) as server,
        client_for(server) as client,
    ):
        pages = list(
            client.iter_workflow_app_log_pages(
                INVOICE_PIPELINE,
                created_at_after="2026-11-01T00:00:00Z",
                created_at_before="2026-12-01T00:00:00Z",
                limit=2,
            )
        )
    assert [log.workflow_run.id[-2:] for page in pages for log in page.data] == ["03", "04", "05", "01"]
    assert [(query["page"], query["created_at__after"]) for _, _, query in server.requests] == [
        ("1", "2026-11-01T00:00:00Z"),
        ("2", "2026-11-01T00:00:00Z"),
    ]


def test_admin_key_headers_are_sent_and_a_wrong_key_is_an_auth_error_without_the_key() -> None:
    with ReplayServer(["07-account-profile-new-york.json"]) as server:
        with client_for(server) as client:
            assert client.account_profile().timezone == "America/New_York"
        wrong_key = "wrong-secret-key-1234"
        with client_for(server, api_key=wrong_key) as client, pytest.raises(DifyAuthError) as caught:
            client.account_profile()
    message = str(caught.value)
    assert wrong_key not in message and API_KEY not in message and wrong_key not in repr(client)
    assert "GET /account/profile was refused with 401" in message and "ADMIN_API_KEY_ENABLE" in message


def test_a_404_of_a_per_app_endpoint_is_not_found_naming_the_app() -> None:
    missing = SUPPORT_CHAT.model_copy(update={"id": "00000000-0000-4000-8000-000000000000", "name": "Deleted"})
    with (
        ReplayServer(["09-error-unknown-app-404.json"], ignore=frozenset({"limit"})) as server,
        client_for(server) as client,
        pytest.raises(DifyNotFoundError) as caught,
    ):
        next(client.iter_chat_conversation_pages(missing))
    error = caught.value
    assert error.app_gone and error.status == 404
    assert "GET /apps/{id}/chat-conversations for app 'Deleted' (00000000-0000-4000-8000-000000000000)" in str(error)


def test_other_errors_name_method_endpoint_app_and_status() -> None:
    extra = {
        ("GET", f"{CONSOLE}/apps/{SUPPORT_CHAT.id}/chat-messages"): Reply(
            400, b'{"code": "invalid_param", "message": "bad", "status": 400}'
        ),
        ("GET", f"{CONSOLE}/account/profile"): Reply(502, b"<html>bad gateway</html>", "text/html"),
    }
    sleeps: list[float] = []
    with ReplayServer([], extra=extra) as server, client_for(server, sleeps=sleeps) as client:
        with pytest.raises(DifyHTTPError) as bad_request:
            client.chat_messages(SUPPORT_CHAT, "c1")
        assert len(server.requests) == 1 and sleeps == []  # a 400 is not retried
        with pytest.raises(DifyHTTPError) as gateway:
            client.account_profile()
    assert type(bad_request.value) is DifyHTTPError
    assert str(bad_request.value) == (
        "GET /apps/{id}/chat-messages for app 'Support Chat' "
        f"({SUPPORT_CHAT.id}) failed with HTTP 400 (invalid_param): Dify says: bad"
    )
    assert str(gateway.value) == (
        "GET /account/profile failed with HTTP 502 after 5 attempts. Dify did not recover "
        "within the retries: run again later."
    )
    assert len(server.requests) == 1 + 5 and len(sleeps) == 4


def test_a_body_that_is_not_json_or_not_the_documented_shape_is_a_response_error() -> None:
    html = Reply(200, b"<!doctype html><title>Dify</title>", "text/html")
    wrong = Reply(200, b'{"data": [{"id": "x"}], "has_more": false}')
    extra = {("GET", f"{CONSOLE}/apps"): html, ("GET", f"{CONSOLE}/apps/{SUPPORT_CHAT.id}/chat-conversations"): wrong}
    sleeps: list[float] = []
    with ReplayServer([], extra=extra) as server, client_for(server, sleeps=sleeps) as client:
        with pytest.raises(
            DifyResponseError,
            match=r"GET /apps: expected JSON, got text/html starting with "
            r"'<!doctype html>.*', 2 times in a row\. Is a proxy ",
        ):
            list(client.iter_apps())
        assert len(server.requests) == 2 and len(sleeps) == 1  # a non-JSON 200 is retried once only
        with pytest.raises(DifyResponseError) as caught:
            next(client.iter_chat_conversation_pages(SUPPORT_CHAT))
        assert len(server.requests) == 3  # a body of the wrong shape is not retried
    assert str(caught.value).startswith(
        f"GET /apps/{{id}}/chat-conversations for app 'Support Chat' ({SUPPORT_CHAT.id}): unexpected response"
    )
    assert "data.0.created_at: Field required" in str(caught.value)


def test_an_unreachable_dify_is_a_connection_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sleeps: list[float] = []
    with DifyClient(
        f"http://127.0.0.1:{port}",
        api_key=API_KEY,
        workspace_id=WORKSPACE_ID,
        timeout=2,
        retry=replace(DIFY_CONSOLE_RETRY, sleep=sleeps.append),
    ) as client:
        with pytest.raises(DifyConnectionError) as caught:
            client.account_profile()
        assert client.request_count == 5 and len(sleeps) == 4
    assert str(caught.value).startswith(
        f"GET /account/profile: could not reach Dify at http://127.0.0.1:{port}"
        "/console/api after 5 attempts (ConnectError: "
    )
    assert str(caught.value).endswith(". Check DIFY_API_URL and that Dify is up.")


def test_base_url_and_arguments_are_checked() -> None:
    assert console_api_root("https://dify.example.com/") == "https://dify.example.com/console/api"
    assert console_api_root("http://127.0.0.1:5001/console/api") == "http://127.0.0.1:5001/console/api"
    with pytest.raises(ValueError, match="http\\(s\\) URL"):
        console_api_root("dify.example.com")
    with pytest.raises(ValueError, match="DIFY_API_KEY is empty"):
        DifyClient("http://127.0.0.1:1", api_key="", workspace_id="w")
    with pytest.raises(ValueError, match="DIFY_PASSWORD is empty"):
        DifyClient("http://127.0.0.1:1", email="meter@example.com", password="")
    with pytest.raises(ValueError, match="not both"):
        DifyClient("http://127.0.0.1:1", api_key="k", workspace_id="w", email="meter@example.com", password="p")
    with pytest.raises(ValueError, match="credentials are missing"):
        DifyClient("http://127.0.0.1:1")
    with pytest.raises(ValueError, match="page limit must be between 1 and 100"):
        next(DifyClient("http://127.0.0.1:1", api_key="k", workspace_id="w").iter_apps(limit=101))
