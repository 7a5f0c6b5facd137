"""Dify 1.16 New Agent apps (mode `agent`, dify-1.16.1/INDEX.md): left out of the default app list, listed with
`mode=agent`; every message read from the Agent's logs, debugger turns included, over pages; exact tokens and
price; the model of the Agent's config snapshot in force at each message (docs/agent-apps.md)."""

from __future__ import annotations

from datetime import UTC, datetime

from dify_meter.sandbox.dify.fixture_workspace import fixture_workspace
from dify_meter.sandbox.dify.server import DifySimulator
from dify_meter.sources.console.client import DifyClient
from dify_meter.sources.console.statistics import fetch_dify_totals
from dify_meter.usage.checks import check_apps_not_read
from dify_meter_tests.support.agent_apps import AGENT_APP, NEW_YORK, WINDOW, agent_facts, with_recorded_agent_app
from dify_meter_tests.support.console import NO_WAIT, assert_same_events, fetch_events
from dify_meter_tests.support.fixture_files import SEED_FILE
from dify_meter_tests.support.grow_workspace import EXPLORE_CONVERSATION, SUPPORT_CHAT


def test_agent_apps_are_read_exactly_debugger_and_every_page_included() -> None:
    ws = fixture_workspace(SEED_FILE)
    expected = with_recorded_agent_app(ws)
    with DifySimulator(ws, api_key="k", dify_version="1.16.1") as dify:
        dify.set_now(datetime(2026, 11, 28, 12, tzinfo=UTC))
        with DifyClient(
            dify.base_url, api_key="k", workspace_id=dify.workspace_id, timeout=10, retry=NO_WAIT
        ) as client:
            default_list = [app.id for app in client.iter_apps()]
            result = fetch_events(client, *WINDOW, timezone=NEW_YORK)
            totals = fetch_dify_totals(client, *WINDOW)
        requests = [(path, args) for _, path, args in dify.request_log]

    assert AGENT_APP not in default_list  # 1.16 leaves agent apps out of mode=all
    assert ("/console/api/apps", {"page": "1", "limit": "100", "mode": "agent"}) in requests
    agent_events = [e for e in result.events if e.app_id == AGENT_APP]
    assert agent_facts(agent_events) == expected
    assert {e.app_mode for e in agent_events} == {"agent"} and not any(e.approximate for e in agent_events)
    assert sum(total for _, total, _, _, _ in expected) == 17_150 + sum(100 + n + 10 for n in range(90))
    assert_same_events([e for e in result.events if e.app_id != AGENT_APP], ws.ground_truth(*WINDOW, NEW_YORK))
    assert result.warnings == [] and not [app for app in result.skipped_apps if app.unread_usage]
    assert check_apps_not_read(result.skipped_apps, totals).passed
    pages = [args["page"] for path, args in requests if path.endswith("/c1a00000-0000-4000-8000-000000000004/messages")]
    assert sorted(set(pages)) == ["1", "2"]  # 150 turns: more than one page (a retried page may repeat)
    assert not [
        path
        for path, args in requests
        if path.endswith("/chat-messages") and args.get("conversation_id", "").startswith("c1a")
    ]  # 404 for end users' conversations
    [agent_totals] = [t for t in totals if t.app_id == AGENT_APP]
    assert agent_totals.tokens == sum(total for _, total, _, _, _ in expected) - 1890  # Dify skips the debugger


def test_before_1_16_no_agent_list_is_asked_for() -> None:
    with DifySimulator(fixture_workspace(SEED_FILE), api_key="k", dify_version="1.14.1") as dify:
        with DifyClient(
            dify.base_url, api_key="k", workspace_id=dify.workspace_id, timeout=10, retry=NO_WAIT
        ) as client:
            fetch_events(client, *WINDOW, timezone=NEW_YORK)
        modes = [args.get("mode") for _, path, args in dify.request_log if path == "/console/api/apps"]
    assert modes == ["all"]


def test_an_export_writes_nothing_in_dify_while_a_detail_read_would() -> None:
    """With DIFY_DETAIL_READS=never on 1.16.1 (chat models from the list items, agent apps from their logs) the
    export leaves every table as it was; the one console read with a side effect changes them."""
    ws = fixture_workspace(SEED_FILE)
    with_recorded_agent_app(ws)
    with DifySimulator(ws, api_key="k", dify_version="1.16.1") as dify:
        dify.set_now(datetime(2026, 11, 28, 12, tzinfo=UTC))
        before = ws.digest()
        with DifyClient(
            dify.base_url, api_key="k", workspace_id=dify.workspace_id, timeout=10, retry=NO_WAIT
        ) as client:
            result = fetch_events(client, *WINDOW, timezone=NEW_YORK, detail_reads="never")
            assert result.event_count > 0 and ws.digest() == before
            client.chat_conversation_detail(
                client.app_detail(next(a for a in client.iter_apps() if a.id == SUPPORT_CHAT)), EXPLORE_CONVERSATION
            )
        assert ws.digest() != before
