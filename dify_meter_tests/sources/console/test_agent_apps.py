"""Dify 1.16 New Agent apps (mode `agent`) are left out of the default app list: the exporter lists them with
`mode=agent`, and until it reads them it says so: a warning, the fetch's apps not read, and a failing
apps_not_read check with Dify's own figures for them (dify-1.16.1/INDEX.md, "How agent-mode apps ...")."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from dify_meter.sandbox.dify.fixture_workspace import fixture_workspace
from dify_meter.sandbox.dify.server import DifySimulator
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


def with_recorded_agent_app(ws: Workspace) -> int:
    """The recorded agent app's web-app conversation (two turns, 12,060 tokens); its total tokens."""
    ws.add(replace(ws.apps[SUPPORT_CHAT], id=AGENT_APP, name="Agent Desk", mode="agent", app_model_config_id=None,
                   bound_agent_id=AGENT_ID))
    template = ws.conversations[EXPLORE_CONVERSATION]
    start = datetime(2026, 11, 10, 14, tzinfo=UTC)
    conversation = replace(template, id="c1a00000-0000-4000-8000-000000000001", app_id=AGENT_APP, created_at=start,
                           updated_at=start, app_model_config_id=None)
    ws.add(conversation)
    message = ws.messages_of(EXPLORE_CONVERSATION)[0]
    for n, (tokens_in, tokens_out, price, minute) in enumerate([(5200, 640, "0.0194000", 0),
                                                                 (6100, 120, "0.0164500", 4)], start=1):
        ws.add(replace(message, id=f"d1a00000-0000-4000-8000-00000000000{n}", app_id=AGENT_APP,
                       conversation_id=conversation.id, message_tokens=tokens_in, answer_tokens=tokens_out,
                       total_price=Decimal(price), created_at=start.replace(minute=minute)))
    return 5200 + 640 + 6100 + 120


def test_agent_apps_are_found_named_and_fail_the_check_while_the_rest_is_exact() -> None:
    ws = fixture_workspace()
    agent_tokens = with_recorded_agent_app(ws)
    with DifySimulator(ws, api_key="k", dify_version="1.16.1") as dify:
        dify.set_now(datetime(2026, 11, 28, 12, tzinfo=UTC))
        with DifyClient(dify.base_url, api_key="k", workspace_id=dify.workspace_id, timeout=10,
                        retry=NO_WAIT) as client:
            default_list = [app.id for app in client.iter_apps()]
            result = fetch_events(client, *WINDOW, timezone=NEW_YORK)
            totals = fetch_dify_totals(client, *WINDOW)
        app_lists = [args.get("mode") for _, path, args in dify.request_log if path == "/console/api/apps"]

    assert AGENT_APP not in default_list  # 1.16 leaves agent apps out of mode=all
    assert "agent" in app_lists
    assert_same_events(result.events, ws.ground_truth(*WINDOW, NEW_YORK))
    [not_read] = [app for app in result.skipped_apps if app.unread_usage]
    assert (not_read.app_id, not_read.mode) == (AGENT_APP, "agent")
    assert any("Agent Desk" in warning and "'agent'" in warning for warning in result.warnings)
    outcome = check_apps_not_read(result.skipped_apps, totals)
    assert not outcome.passed and "Agent Desk (agent)" in outcome.summary
    assert outcome.facts["tokens_not_read_per_dify"] == agent_tokens


def test_before_1_16_no_agent_list_is_asked_for() -> None:
    with DifySimulator(fixture_workspace(), api_key="k", dify_version="1.14.1") as dify:
        with DifyClient(dify.base_url, api_key="k", workspace_id=dify.workspace_id, timeout=10,
                        retry=NO_WAIT) as client:
            fetch_events(client, *WINDOW, timezone=NEW_YORK)
        modes = [args.get("mode") for _, path, args in dify.request_log if path == "/console/api/apps"]
    assert modes == ["all"]
