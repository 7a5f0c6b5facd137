"""The recorded New Agent app (1.16.1's fixture-seed-agent.sql) grown into a workspace, for several test folders."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from dify_meter.core.event import UsageEvent
from dify_meter.sandbox.dify.tables import AgentConfigSnapshot, Conversation, EndUser
from dify_meter.sandbox.dify.workspace import Workspace
from dify_meter_tests.support.grow_workspace import EXPLORE_CONVERSATION, SUPPORT_CHAT

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
    conversation = replace(
        template,
        id=f"c1a00000-0000-4000-8000-{n:012d}",
        app_id=AGENT_APP,
        app_model_config_id=None,
        mode="agent",
        from_source="console" if end_user is None else "api",
        from_end_user_id=end_user,
        from_account_id=owner if end_user is None else None,
        invoke_from=invoke_from,
        created_at=start,
        updated_at=start,
    )
    ws.add(conversation)
    return conversation


def _turn(ws: Workspace, conversation: Conversation, n: int, at: datetime, tokens: tuple[int, int], price: str) -> None:
    template = ws.messages_of(EXPLORE_CONVERSATION)[0]
    ws.add(
        replace(
            template,
            id=f"d1a00000-0000-4000-8000-{n:012d}",
            app_id=AGENT_APP,
            conversation_id=conversation.id,
            message_tokens=tokens[0],
            answer_tokens=tokens[1],
            total_price=Decimal(price),
            currency="USD",
            from_source=conversation.from_source,
            from_end_user_id=conversation.from_end_user_id,
            from_account_id=conversation.from_account_id,
            invoke_from=conversation.invoke_from,
            created_at=at,
        )
    )
    conversation.updated_at = max(conversation.updated_at, at)


def with_recorded_agent_app(ws: Workspace) -> list[tuple[str, int, Decimal, tuple[str, str], str]]:
    """The recorded agent app (web-app, service-API and debugger conversations; fixture-seed-agent.sql) plus a
    150-turn conversation crossing the window's end; what each message in the window must give:
    (message id, tokens, price, model, user id)."""
    ws.add(
        replace(
            ws.apps[SUPPORT_CHAT],
            id=AGENT_APP,
            name="Agent Desk",
            mode="agent",
            app_model_config_id=None,
            bound_agent_id=AGENT_ID,
        )
    )
    for version, (model, since) in enumerate([(GPT_4O, datetime(2026, 11, 1, tzinfo=UTC)), (CLAUDE, SWITCH)], 1):
        ws.add(
            AgentConfigSnapshot(
                f"5a000000-0000-4000-8000-00000000000{version}", AGENT_ID, version, *model, ws.owner.id, since
            )
        )
    for n, session in ((1, "web-agent-01"), (2, "carol@corp")):
        ws.add(
            EndUser(
                f"e1a00000-0000-4000-8000-00000000000{n}", AGENT_APP, "browser" if n == 1 else "service-api", session
            )
        )
    web = _conversation(
        ws,
        1,
        datetime(2026, 11, 10, 9, tzinfo=UTC),
        end_user="e1a00000-0000-4000-8000-000000000001",
        invoke_from="web-app",
    )
    api = _conversation(
        ws,
        2,
        datetime(2026, 11, 11, 14, 30, tzinfo=UTC),
        end_user="e1a00000-0000-4000-8000-000000000002",
        invoke_from="service-api",
    )
    debug = _conversation(ws, 3, datetime(2026, 11, 11, 10, tzinfo=UTC), end_user=None, invoke_from="debugger")
    long = _conversation(
        ws, 4, LONG_START.astimezone(UTC), end_user="e1a00000-0000-4000-8000-000000000001", invoke_from="web-app"
    )
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
            expected.append(
                (
                    message.id,
                    message.message_tokens + message.answer_tokens,
                    message.total_price,
                    CLAUDE if message.created_at >= SWITCH else GPT_4O,
                    user,
                )
            )
    return expected


def agent_facts(events: list[UsageEvent]) -> list[tuple[str, int, Decimal, tuple[str, str], str]]:
    return sorted((e.event_id, e.total_tokens, e.cost, (e.provider_raw, e.model_raw), e.user_id) for e in events)
