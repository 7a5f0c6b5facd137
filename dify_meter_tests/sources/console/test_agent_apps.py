"""Dify 1.16 New Agent apps (mode `agent`, dify-1.16.1/INDEX.md): left out of the default app list, listed with
`mode=agent`; every message read from the Agent's logs, debugger turns included, over pages; exact tokens and
price; the model of the Agent's config snapshot in force at each message (docs/agent-apps.md)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from dify_meter.core.event import UsageEvent
from dify_meter.sandbox.dify.fixture_workspace import fixture_workspace
from dify_meter.sandbox.dify.server import DifySimulator
from dify_meter.sandbox.dify.tables import AgentConfigSnapshot, Conversation, EndUser
from dify_meter.sandbox.dify.workspace import Workspace
from dify_meter.sources.console.client import DifyClient
from dify_meter.sources.console.statistics import fetch_dify_totals
from dify_meter.usage.checks import check_apps_not_read
from dify_meter_tests.sources.console.grow_workspace import EXPLORE_CONVERSATION, SUPPORT_CHAT
from dify_meter_tests.sources.console.support import NO_WAIT, assert_same_events, fetch_events

pytestmark = pytest.mark.integration

NEW_YORK = "America/New_York"
WINDOW = (datetime(2026, 11, 10, tzinfo=ZoneInfo(NEW_YORK)), datetime(2026, 11, 12, tzinfo=ZoneInfo(NEW_YORK)))
AGENT_APP = "c9b7946a-b798-49f1-9008-195d3b63c68a"  # the recorded agent app and its Agent
AGENT_ID = "01a23c8d-f133-7bfb-a3ff-8a578dba055e"
GPT_4O = ("langgenius/openai/openai", "gpt-4o")  # the recording's assumed Agent Soul model
CLAUDE = ("langgenius/anthropic/anthropic", "claude-3-5-sonnet-20241022")
SWITCH = datetime(2026, 11, 11, 12, tzinfo=UTC)  # a second published config: the model changes here
LONG_START = datetime(2026, 11, 11, 22, 30, tzinfo=ZoneInfo(NEW_YORK))  # 150 turns, past the window's end


def _conversation(ws: Workspace, n: int, start: datetime, *, end_user: str | None, invoke_from: str) -> Conversation:
    template = ws.conversations[EXPLORE_CONVERSATION]
    owner = ws.owner.id
    conversation = replace(template, id=f"c1a00000-0000-4000-8000-{n:012d}", app_id=AGENT_APP,
                           app_model_config_id=None, mode="agent", from_source="console" if end_user is None else "api",
                           from_end_user_id=end_user, from_account_id=owner if end_user is None else None,
                           invoke_from=invoke_from, created_at=start, updated_at=start)
    ws.add(conversation)
    return conversation


def _turn(ws: Workspace, conversation: Conversation, n: int, at: datetime, tokens: tuple[int, int], price: str) -> None:
    template = ws.messages_of(EXPLORE_CONVERSATION)[0]
    ws.add(replace(template, id=f"d1a00000-0000-4000-8000-{n:012d}", app_id=AGENT_APP,
                   conversation_id=conversation.id, message_tokens=tokens[0], answer_tokens=tokens[1],
                   total_price=Decimal(price), currency="USD", from_source=conversation.from_source,
                   from_end_user_id=conversation.from_end_user_id, from_account_id=conversation.from_account_id,
                   invoke_from=conversation.invoke_from, created_at=at))
    conversation.updated_at = max(conversation.updated_at, at)


def with_recorded_agent_app(ws: Workspace) -> list[tuple[str, int, Decimal, tuple[str, str], str]]:
    """The recorded agent app (web-app, service-API and debugger conversations; fixture-seed-agent.sql) plus a
    150-turn conversation crossing the window's end; what each message in the window must give:
    (message id, tokens, price, model, user id)."""
    ws.add(replace(ws.apps[SUPPORT_CHAT], id=AGENT_APP, name="Agent Desk", mode="agent", app_model_config_id=None,
                   bound_agent_id=AGENT_ID))
    for version, (model, since) in enumerate([(GPT_4O, datetime(2026, 11, 1, tzinfo=UTC)), (CLAUDE, SWITCH)], 1):
        ws.add(AgentConfigSnapshot(f"5a000000-0000-4000-8000-00000000000{version}", AGENT_ID, version, *model,
                                   ws.owner.id, since))
    for n, session in ((1, "web-agent-01"), (2, "carol@corp")):
        ws.add(EndUser(f"e1a00000-0000-4000-8000-00000000000{n}", AGENT_APP, "browser" if n == 1 else "service-api",
                       session))
    web = _conversation(ws, 1, datetime(2026, 11, 10, 9, tzinfo=UTC), end_user="e1a00000-0000-4000-8000-000000000001",
                        invoke_from="web-app")
    api = _conversation(ws, 2, datetime(2026, 11, 11, 14, 30, tzinfo=UTC),
                        end_user="e1a00000-0000-4000-8000-000000000002", invoke_from="service-api")
    debug = _conversation(ws, 3, datetime(2026, 11, 11, 10, tzinfo=UTC), end_user=None, invoke_from="debugger")
    long = _conversation(ws, 4, LONG_START.astimezone(UTC), end_user="e1a00000-0000-4000-8000-000000000001",
                         invoke_from="web-app")
    _turn(ws, web, 1, web.created_at, (5200, 640), "0.0194000")
    _turn(ws, web, 2, web.created_at + timedelta(minutes=4), (6100, 120), "0.0164500")
    _turn(ws, api, 3, api.created_at, (3000, 200), "0.0095000")
    _turn(ws, debug, 4, debug.created_at, (1800, 90), "0.0054000")
    for n in range(150):
        _turn(ws, long, 100 + n, long.created_at + timedelta(minutes=n), (100 + n, 10), "0.0001000")
    expected = []
    for message in sorted(ws.messages.values(), key=lambda m: m.id):
        if message.app_id == AGENT_APP and WINDOW[0] <= message.created_at < WINDOW[1]:
            user = ws.end_users[message.from_end_user_id].session_id if message.from_end_user_id else ws.owner.id
            expected.append((message.id, message.message_tokens + message.answer_tokens, message.total_price,
                             CLAUDE if message.created_at >= SWITCH else GPT_4O, user))
    return expected


def _agent_facts(events: list[UsageEvent]) -> list[tuple[str, int, Decimal, tuple[str, str], str]]:
    return sorted((e.event_id, e.total_tokens, e.cost, (e.provider_raw, e.model_raw), e.user_id) for e in events)


def test_agent_apps_are_read_exactly_debugger_and_every_page_included() -> None:
    ws = fixture_workspace()
    expected = with_recorded_agent_app(ws)
    with DifySimulator(ws, api_key="k", dify_version="1.16.1") as dify:
        dify.set_now(datetime(2026, 11, 28, 12, tzinfo=UTC))
        with DifyClient(dify.base_url, api_key="k", workspace_id=dify.workspace_id, timeout=10,
                        retry=NO_WAIT) as client:
            default_list = [app.id for app in client.iter_apps()]
            result = fetch_events(client, *WINDOW, timezone=NEW_YORK)
            totals = fetch_dify_totals(client, *WINDOW)
        requests = [(path, args) for _, path, args in dify.request_log]

    assert AGENT_APP not in default_list  # 1.16 leaves agent apps out of mode=all
    assert ("/console/api/apps", {"page": "1", "limit": "100", "mode": "agent"}) in requests
    agent_events = [e for e in result.events if e.app_id == AGENT_APP]
    assert _agent_facts(agent_events) == expected
    assert {e.app_mode for e in agent_events} == {"agent"} and not any(e.approximate for e in agent_events)
    assert sum(total for _, total, _, _, _ in expected) == 17_150 + sum(100 + n + 10 for n in range(90))
    assert_same_events([e for e in result.events if e.app_id != AGENT_APP], ws.ground_truth(*WINDOW, NEW_YORK))
    assert result.warnings == [] and not [app for app in result.skipped_apps if app.unread_usage]
    assert check_apps_not_read(result.skipped_apps, totals).passed
    pages = [args["page"] for path, args in requests if path.endswith("/c1a00000-0000-4000-8000-000000000004/messages")]
    assert sorted(set(pages)) == ["1", "2"]  # 150 turns: more than one page (a retried page may repeat)
    assert not [path for path, args in requests if path.endswith("/chat-messages")
                and args.get("conversation_id", "").startswith("c1a")]  # 404 for end users' conversations
    [agent_totals] = [t for t in totals if t.app_id == AGENT_APP]
    assert agent_totals.tokens == sum(total for _, total, _, _, _ in expected) - 1890  # Dify skips the debugger


def test_before_1_16_no_agent_list_is_asked_for() -> None:
    with DifySimulator(fixture_workspace(), api_key="k", dify_version="1.14.1") as dify:
        with DifyClient(dify.base_url, api_key="k", workspace_id=dify.workspace_id, timeout=10,
                        retry=NO_WAIT) as client:
            fetch_events(client, *WINDOW, timezone=NEW_YORK)
        modes = [args.get("mode") for _, path, args in dify.request_log if path == "/console/api/apps"]
    assert modes == ["all"]


def test_an_export_writes_nothing_in_dify_while_a_detail_read_would() -> None:
    """With DIFY_DETAIL_READS=never on 1.16.1 (chat models from the list items, agent apps from their logs) the
    export leaves every table as it was; the one console read with a side effect changes them."""
    ws = fixture_workspace()
    with_recorded_agent_app(ws)
    with DifySimulator(ws, api_key="k", dify_version="1.16.1") as dify:
        dify.set_now(datetime(2026, 11, 28, 12, tzinfo=UTC))
        before = ws.digest()
        with DifyClient(dify.base_url, api_key="k", workspace_id=dify.workspace_id, timeout=10,
                        retry=NO_WAIT) as client:
            result = fetch_events(client, *WINDOW, timezone=NEW_YORK, detail_reads="never")
            assert result.event_count > 0 and ws.digest() == before
            client.chat_conversation_detail(client.app_detail(next(a for a in client.iter_apps()
                                                                   if a.id == SUPPORT_CHAT)), EXPLORE_CONVERSATION)
        assert ws.digest() != before
