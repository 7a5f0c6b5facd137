"""Dify 1.16's two agent GETs that write when read (docs/agent-apps.md; from source, not recorded), performed by
the 1.16.1 simulator over the recorded agent app: a control call changes the digest of the simulator's tables,
a whole export by the real console client does not, and the client's read-only allowlist refuses both."""

from __future__ import annotations

import base64
from dataclasses import replace
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import httpx
import pytest

from dify_meter.core.retry import DIFY_CONSOLE_RETRY
from dify_meter.sandbox.dify.fixture_workspace import AGENT_APP_IDS, AGENT_DEBUG_CONVERSATION, fixture_workspace
from dify_meter.sandbox.dify.server import DifySimulator
from dify_meter.sources.console.auth import AdminKeyAuth
from dify_meter.sources.console.client import DifyClient
from dify_meter.sources.console.errors import DifyRequestNotAllowed
from dify_meter.sources.console.transport import ConsoleTransport
from dify_meter_tests.support.agent_apps import NEW_YORK
from dify_meter_tests.support.console import NO_WAIT, fetch_events
from dify_meter_tests.support.fixture_files import SEED_FILE, fixtures_dir

pytestmark = pytest.mark.integration

AGENT_SEED_FILE = fixtures_dir("1.16.1") / "fixture-seed-agent.sql"
AGENT = f"/console/api/agent/{AGENT_APP_IDS.agent_id}"
EDITOR = "dana@example.com"  # the seed's editor: no debug conversation of the agent app yet
PASSWORD = "Sandbox-Passw0rd"
# Every recorded day up to the agent app's creation: the seed dates the debug turn (11-11) before its
# conversation was created (12-03, with the app), and an export skips conversations created after its window.
EXPORT_WINDOW = (datetime(2026, 10, 1, tzinfo=ZoneInfo(NEW_YORK)), datetime(2026, 12, 4, tzinfo=ZoneInfo(NEW_YORK)))


def _editor_session(dify: DifySimulator, http: httpx.Client) -> dict[str, str]:
    """Logs the editor in (1.16 takes the password base64-encoded); the CSRF header its cookie session needs."""
    password = base64.b64encode(PASSWORD.encode()).decode()
    login = http.post(f"{dify.base_url}/console/api/login", json={"email": EDITOR, "password": password})
    assert login.status_code == 200
    return {"X-CSRF-Token": login.cookies["csrf_token"]}


def test_agent_detail_and_composer_write_when_read_and_an_export_does_not() -> None:
    ws = fixture_workspace(SEED_FILE, AGENT_SEED_FILE)
    with DifySimulator(ws, api_key="k", dify_version="1.16.1", email=EDITOR, password=PASSWORD) as dify:
        dify.set_now(datetime(2026, 12, 4, 3, tzinfo=UTC))
        pristine = ws.digest()
        with DifyClient(
            dify.base_url, api_key="k", workspace_id=dify.workspace_id, timeout=10, retry=NO_WAIT
        ) as client:
            result = fetch_events(client, *EXPORT_WINDOW, timezone=NEW_YORK, detail_reads="never")
        assert {e.event_id for e in result.events if e.app_id == AGENT_APP_IDS.app_id} == {
            f"d1a00000-0000-4000-8000-00000000000{n}" for n in (1, 2, 3, 4)
        }  # the agent app was read, debugger turn included
        assert ws.digest() == pristine

        with httpx.Client(base_url=dify.base_url, timeout=10) as http:
            owner = http.get(AGENT, headers=dify.auth_headers())
            assert owner.json()["debug_conversation_id"] == AGENT_DEBUG_CONVERSATION
            assert ws.digest() == pristine  # the owner has one already: this state writes nothing

            csrf = _editor_session(dify, http)
            after_login = ws.digest()  # a login stamps the account's last login
            first = http.get(AGENT, headers=csrf)
            created = ws.digest()
            assert first.status_code == 200 and created != after_login
            conversation = ws.conversations[first.json()["debug_conversation_id"]]
            assert (conversation.app_id, conversation.invoke_from, conversation.from_account_id) == (
                AGENT_APP_IDS.app_id,
                "debugger",
                ws.accounts["91000000-0000-4000-8000-000000000001"].id,
            )
            assert http.get(AGENT, headers=csrf).json()["debug_conversation_id"] == conversation.id
            assert ws.digest() == created  # get-or-create: the second read finds it

            composer = http.get(f"{AGENT}/composer", headers=dify.auth_headers())
            assert composer.status_code == 200 and ws.digest() != created
            drafted = ws.digest()
            again = http.get(f"{AGENT}/composer", headers=dify.auth_headers())
            assert again.json()["draft"] == composer.json()["draft"]
            assert ws.digest() == drafted
        assert dify.errors == []


def test_the_console_client_refuses_both_before_sending() -> None:
    with DifySimulator(fixture_workspace(SEED_FILE, AGENT_SEED_FILE), api_key="k", dify_version="1.16.1") as dify:
        transport = ConsoleTransport(
            f"{dify.base_url}/console/api",
            AdminKeyAuth("k", dify.workspace_id),
            timeout=5,
            max_concurrency=1,
            retry=replace(DIFY_CONSOLE_RETRY, sleep=lambda _: None),
        )
        with transport:
            for path in (f"/agent/{AGENT_APP_IDS.agent_id}", f"/agent/{AGENT_APP_IDS.agent_id}/composer"):
                with pytest.raises(DifyRequestNotAllowed, match="not on its allowlist"):
                    transport.call("GET", path, authenticated=True)
        assert dify.request_log == []  # nothing reached Dify, not even a login


@pytest.mark.parametrize("version", ["1.12.1", "1.14.1"])
def test_before_1_16_there_are_no_agent_routes(version: str) -> None:
    ws = fixture_workspace(SEED_FILE, AGENT_SEED_FILE)
    with DifySimulator(ws, api_key="k", dify_version=version) as dify, httpx.Client(base_url=dify.base_url) as http:
        before = ws.digest()
        answers = [
            http.get(AGENT, headers=dify.auth_headers()),
            http.get(f"{AGENT}/composer", headers=dify.auth_headers()),
            http.post("/console/api/agent", headers=dify.auth_headers(), json={"name": "Agent Desk"}),
        ]
        assert [(a.status_code, a.json()["code"]) for a in answers] == [(404, "not_found")] * 3
        assert ws.digest() == before and dify.errors == []
