"""An app of a mode this exporter does not know is never skipped silently: a warning names it, the fetch lists
it as not read, the apps_not_read check fails naming it with Dify's own figures, and the rest is exact."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from dify_meter.sandbox.dify.fixture_workspace import fixture_workspace
from dify_meter.sandbox.dify.server import DifySimulator
from dify_meter.sources.console.client import DifyClient
from dify_meter.sources.console.statistics import fetch_dify_totals
from dify_meter.usage.checks import check_apps_not_read
from dify_meter_tests.support.console import NO_WAIT, assert_same_events, fetch_events
from dify_meter_tests.support.fixture_files import SEED_FILE
from dify_meter_tests.support.grow_workspace import EXPLORE_CONVERSATION, SUPPORT_CHAT, new_id

pytestmark = pytest.mark.integration

NEW_YORK = "America/New_York"
WINDOW = (datetime(2026, 11, 10, tzinfo=ZoneInfo(NEW_YORK)), datetime(2026, 11, 12, tzinfo=ZoneInfo(NEW_YORK)))


def test_an_unknown_mode_is_warned_listed_and_fails_the_check_while_the_rest_is_delivered() -> None:
    ws = fixture_workspace(SEED_FILE)
    swarm = replace(ws.apps[SUPPORT_CHAT], id=new_id(0xA), name="Swarm", mode="agent-swarm")
    ws.add(swarm)
    template = ws.conversations[EXPLORE_CONVERSATION]
    moment = datetime(2026, 11, 10, 15, tzinfo=UTC)
    conversation = replace(template, id=new_id(0xC), app_id=swarm.id, created_at=moment, updated_at=moment)
    ws.add(conversation)
    message = ws.messages_of(EXPLORE_CONVERSATION)[0]
    ws.add(
        replace(
            message,
            id=new_id(0xD),
            app_id=swarm.id,
            conversation_id=conversation.id,
            created_at=moment + timedelta(seconds=5),
        )
    )
    swarm_tokens = message.message_tokens + message.answer_tokens

    with DifySimulator(ws, api_key="k", dify_version="1.14.1") as dify:
        dify.set_now(datetime(2026, 11, 28, 12, tzinfo=UTC))
        with DifyClient(
            dify.base_url, api_key="k", workspace_id=dify.workspace_id, timeout=10, retry=NO_WAIT
        ) as client:
            result = fetch_events(client, *WINDOW, timezone=NEW_YORK)
            totals = fetch_dify_totals(client, *WINDOW)

    assert_same_events(result.events, ws.ground_truth(*WINDOW, NEW_YORK))  # every other app, exact
    assert not any(event.app_id == swarm.id for event in result.events)
    assert [w for w in result.warnings if "Swarm" in w and "'agent-swarm'" in w] == result.warnings != []
    [skipped] = [app for app in result.skipped_apps if app.unread_usage]
    assert (skipped.app_name, skipped.mode) == ("Swarm", "agent-swarm")
    outcome = check_apps_not_read(result.skipped_apps, totals)
    assert not outcome.passed
    assert "Swarm (agent-swarm)" in outcome.summary
    assert outcome.facts["tokens_not_read_per_dify"] == swarm_tokens > 0
    assert check_apps_not_read([app for app in result.skipped_apps if not app.unread_usage], totals).passed
