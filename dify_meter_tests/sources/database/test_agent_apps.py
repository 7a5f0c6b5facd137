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

import pytest

from dify_meter_tests.sources.database.agent_recording import AGENT_APP, RECORDING, add_agent_app
from dify_meter_tests.sources.database.support import read_database
from dify_meter_tests.support.postgres import OWNER_ID, TENANT_ID, EmbeddedPostgres

pytestmark = pytest.mark.integration

NEW_YORK = ZoneInfo("America/New_York")
WINDOW = (datetime(2026, 11, 10, tzinfo=NEW_YORK), datetime(2026, 11, 13, tzinfo=NEW_YORK))


def test_agent_turns_are_events_and_match_difys_statistics_once_the_debugger_is_left_out(
    postgres: EmbeddedPostgres,
) -> None:
    url = postgres.database("1.16.1")
    add_agent_app(url)
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
