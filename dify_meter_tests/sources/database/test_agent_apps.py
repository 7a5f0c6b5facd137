"""New Agent apps (Dify 1.16.1, mode `agent`): one message per user turn, read from `messages`.

The console source cannot read them yet (issue 12), so the anchor is the recording's own figures: Dify's
token-costs statistics for the app (10-agent-token-costs-new-york.json, debugger excluded, as Dify's SQL does),
which the database events reproduce per day once the debugger turn, told apart by `invoke_from`, is left out.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import psycopg
import pytest

from dify_meter_tests.sources.database.support import read_database
from dify_meter_tests.support.postgres import FIXTURES, OWNER_ID, TENANT_ID, EmbeddedPostgres, seed_sql

pytestmark = pytest.mark.integration

RECORDING = FIXTURES / "dify-1.16.1"
AGENT_APP = "c9b7946a-b798-49f1-9008-195d3b63c68a"  # the id POST /console/api/agent returned (INDEX.md)
AGENT_CONFIG, DEBUG_CONVERSATION = "b1a00000-0000-4000-8000-000000000001", "c1a00000-0000-4000-8000-0000000000d0"
NEW_YORK = ZoneInfo("America/New_York")
WINDOW = (datetime(2026, 11, 10, tzinfo=NEW_YORK), datetime(2026, 11, 13, tzinfo=NEW_YORK))
# what the recorded agent creation wrote (INDEX.md, files 10-*): the app, a model-less config, the roster agent's
# debug conversation of the owner (model_provider NULL, model_id '') and its agent_debug_conversations row
AGENT_CREATION = f"""
INSERT INTO apps (id, tenant_id, name, mode, icon_type, icon, icon_background, app_model_config_id, status, enable_site,
  enable_api, description, created_by, updated_by, created_at, updated_at)
VALUES ('{AGENT_APP}', '{TENANT_ID}', 'Agent Desk', 'agent', 'emoji', '🤖', '#E0F2FE', '{AGENT_CONFIG}', 'normal', true,
  true, 'New Agent app (mode agent)', '{OWNER_ID}', '{OWNER_ID}', '2026-12-03 10:00:00', '2026-12-03 10:00:00');
INSERT INTO app_model_configs (id, app_id, created_by, updated_by, created_at, updated_at)
VALUES ('{AGENT_CONFIG}', '{AGENT_APP}', '{OWNER_ID}', '{OWNER_ID}', '2026-12-03 10:00:00', '2026-12-03 10:00:00');
INSERT INTO conversations (id, app_id, app_model_config_id, model_provider, model_id, mode, name, inputs, status,
  from_source, from_end_user_id, from_account_id, invoke_from, dialogue_count, created_at, updated_at)
VALUES ('{DEBUG_CONVERSATION}', '{AGENT_APP}', NULL, NULL, '', 'agent', 'Debug', '{{}}', 'normal', 'console', NULL,
  '{OWNER_ID}', 'debugger', 0, '2026-12-03 10:00:00', '2026-12-03 10:00:00');
INSERT INTO agent_debug_conversations (tenant_id, agent_id, app_id, account_id, conversation_id)
VALUES ('{TENANT_ID}', gen_random_uuid(), '{AGENT_APP}', '{OWNER_ID}', '{DEBUG_CONVERSATION}');
"""


def agent_seed() -> str:
    return (
        seed_sql(RECORDING / "fixture-seed-agent.sql")
        .replace(":'agent_app_id'", f"'{AGENT_APP}'")
        .replace(":'agent_amc_id'", f"'{AGENT_CONFIG}'")
        .replace(":'agent_tenant_id'", f"'{TENANT_ID}'")
        .replace(":'debug_conv_id'", f"'{DEBUG_CONVERSATION}'")
    )


def test_agent_turns_are_events_and_match_difys_statistics_once_the_debugger_is_left_out(
    postgres: EmbeddedPostgres,
) -> None:
    url = postgres.database("1.16.1")
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(AGENT_CREATION)
        admin.execute(agent_seed())
    read = read_database(url, TENANT_ID, WINDOW, "America/New_York")
    agent = {event.event_id: event for event in read.events if event.app_id == AGENT_APP}
    assert sorted(agent) == [f"d1a00000-0000-4000-8000-00000000000{n}" for n in range(1, 5)]
    assert {(e.app_mode, e.source, e.provider_raw, e.model_raw) for e in agent.values()} == {
        ("agent", "message", "langgenius/openai/openai", "gpt-4o")
    }
    debugger = {event_id for event_id in agent if read.facts[event_id].invoke_from == "debugger"}
    assert debugger == {"d1a00000-0000-4000-8000-000000000004"}
    assert (
        agent["d1a00000-0000-4000-8000-000000000004"].user_type,
        agent["d1a00000-0000-4000-8000-000000000004"].user_id,
    ) == ("account", OWNER_ID)
    per_day: defaultdict[date, list] = defaultdict(lambda: [0, Decimal(0)])
    for event_id, event in agent.items():
        if event_id not in debugger:
            per_day[event.usage_date][0] += event.total_tokens
            per_day[event.usage_date][1] += event.cost
    statistics = json.loads((RECORDING / "10-agent-token-costs-new-york.json").read_text())["response"]["body"]
    assert {
        date.fromisoformat(day["date"]): [day["token_count"], Decimal(day["total_price"])] for day in statistics["data"]
    } == dict(per_day)
