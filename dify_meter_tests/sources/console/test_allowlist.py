"""The client sends nothing outside its read-only allowlist: it refuses before any byte leaves."""

from __future__ import annotations

from dataclasses import replace

import pytest

from dify_meter.core.retry import DIFY_CONSOLE_RETRY
from dify_meter.sources.console.allowlist import ALLOWED_REQUESTS, allowed_template, check_allowed
from dify_meter.sources.console.auth import AdminKeyAuth, PasswordAuth
from dify_meter.sources.console.errors import DifyRequestNotAllowed
from dify_meter.sources.console.transport import ConsoleTransport
from dify_meter_tests.support.script_server import ScriptServer, json_answer

APP = "a1000000-0000-4000-8000-000000000001"
AGENT = "01a23c8d-f133-7bfb-a3ff-8a578dba055e"


def test_the_allowlist_is_reads_plus_login_and_the_workspace_post() -> None:
    writes = [(method, path) for method, path in ALLOWED_REQUESTS if method != "GET"]
    assert writes == [("POST", "/login"), ("POST", "/refresh-token"), ("POST", "/workspaces/current")]
    assert allowed_template("GET", f"/apps/{APP}/chat-conversations") == "/apps/{id}/chat-conversations"
    assert (
        allowed_template("GET", f"/apps/{APP}/workflow-runs/f1/node-executions")
        == "/apps/{id}/workflow-runs/{run_id}/node-executions"
    )
    assert allowed_template("GET", "/setup") == "/setup"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("DELETE", f"/apps/{APP}"),
        ("POST", "/apps"),
        ("PUT", "/account/profile"),
        ("POST", "/setup"),  # would set Dify up
        ("GET", "/workspaces/current"),
        ("POST", f"/apps/{APP}/chat-messages"),
        ("GET", f"/apps/{APP}/chat-conversations/c1/extra"),
        ("GET", "/apps/a1.json"),
        ("GET", "/apps/%2e%2e"),
        ("GET", f"/apps/{APP}/workflow-runs"),  # defaults to debugging runs: never needed
        # Dify 1.16 agent endpoints that write when read (docs/agent-apps.md): a debug conversation, a draft
        ("GET", "/agent"),
        ("GET", f"/agent/{AGENT}"),
        ("GET", f"/agent/{AGENT}/composer"),
    ],
)
def test_anything_else_is_refused(method: str, path: str) -> None:
    assert allowed_template(method, path) is None
    with pytest.raises(DifyRequestNotAllowed, match=f"refused to send {method} .*Nothing was sent"):
        check_allowed(method, path)


@pytest.mark.parametrize(
    "auth",
    [AdminKeyAuth("secret-admin-key", "w1"), PasswordAuth("meter@example.com", "secret-password")],
    ids=["admin-key", "password"],
)
def test_the_transport_refuses_before_sending_anything_not_even_a_login(auth: AdminKeyAuth | PasswordAuth) -> None:
    with ScriptServer(lambda seen: json_answer({"result": "success"})) as server:
        transport = ConsoleTransport(
            server.base_url + "/console/api",
            auth,
            timeout=5,
            max_concurrency=2,
            retry=replace(DIFY_CONSOLE_RETRY, sleep=lambda _: None),
        )
        with transport:
            for method, path in [
                ("DELETE", f"/apps/{APP}"),
                ("POST", f"/apps/{APP}/chat-messages"),
                ("GET", f"/apps/{APP}/../../setup/../apps/{APP}/messages"),
            ]:
                with pytest.raises(DifyRequestNotAllowed) as caught:
                    transport.call(method, path, authenticated=True)
                assert "secret" not in str(caught.value)
            for elsewhere in ("http://127.0.0.1:1/console/api/apps", "//127.0.0.1:1/console/api/apps", "/apps?x=1"):
                with pytest.raises(DifyRequestNotAllowed, match="not on its allowlist"):
                    transport.call("GET", "/apps", path=elsewhere, authenticated=True)
        assert server.seen == [] and transport.sent == 0
