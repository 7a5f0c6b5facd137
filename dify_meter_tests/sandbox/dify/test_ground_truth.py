"""Ground truth of the fixture workspace, checked by hand against fixture-seed.sql and INDEX.md.

Nov 10 in New York is [2026-11-10 05:00Z, 2026-11-11 05:00Z). By the seed, it holds 7 messages
(d06 web user on the old 0.x config, d0b completion in RMB, d01 without metadata, d02, d03,
d0a agent, d07 explore at 02:30Z), 2 nodes of the advanced-chat run f1..06 (the debugger one is
hidden), and the nodes of workflow runs f1..01 (6 leaves, not the iteration), f1..04 (03:30Z) and
f1..05 (started 23:59:50Z), while the debugging run f1..02 is left out.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime
from decimal import Decimal

import pytest

from dify_meter.core.event import UsageEvent
from dify_meter.sandbox.dify.fixture_workspace import fixture_workspace
from dify_meter.sandbox.dify.time import localize, utc
from dify_meter_tests.support.fixture_files import SEED_FILE

NEW_YORK = "America/New_York"
SUPPORT_CHAT = "a1000000-0000-4000-8000-000000000001"
INVOICE_PIPELINE = "a1000000-0000-4000-8000-000000000005"


def _day(day: date, tz: str, detail_reads: str = "auto") -> list[UsageEvent]:
    start = localize(datetime.combine(day, datetime.min.time()), tz)
    end = localize(datetime.combine(date.fromordinal(day.toordinal() + 1), datetime.min.time()), tz)
    return fixture_workspace(SEED_FILE).ground_truth(start, end, tz, detail_reads)


def _cost_by_currency(events: list[UsageEvent]) -> dict[str | None, Decimal]:
    totals: defaultdict[str | None, Decimal] = defaultdict(Decimal)
    for event in events:
        totals[event.currency] += event.cost
    return dict(totals)


def test_november_10_in_new_york_by_hand() -> None:
    events = _day(date(2026, 11, 10), NEW_YORK)
    assert len(events) == 17
    assert sum(e.total_tokens for e in events) == 9415 + 2049 + 10646
    assert _cost_by_currency(events) == {
        "USD": Decimal("0.065249"),  # 0.0249 messages + 0.006539 advanced-chat + 0.03381 workflow
        "RMB": Decimal("0.0868"),  # completion d0b 0.084 + qwen-plus node 0.0028
        None: Decimal(0),  # d01: no metadata, so no price and no currency
    }
    assert {e.usage_date for e in events} == {date(2026, 11, 10)}
    assert sum(not e.priced for e in events) == 2  # d01 and the openrouter node (price "0.0")


def test_events_carry_the_right_model_user_and_date() -> None:
    events = {e.event_id: e for e in _day(date(2026, 11, 10), NEW_YORK)}
    old_config = events["d1000000-0000-4000-8000-000000000006"]
    assert (old_config.provider_raw, old_config.model_raw) == ("openai", "gpt-4o-mini")  # its own old config
    assert old_config.user_id == "web-7f3a9c"
    explore = events["d1000000-0000-4000-8000-000000000007"]
    assert (explore.user_type, explore.user_id) == ("account", "91000000-0000-4000-8000-000000000001")
    assert explore.occurred_at == utc(2026, 11, 11, 2, 30)  # Nov 10 21:30 in New York
    agent = events["71000000-0000-4000-8000-000000000007"]
    assert (agent.provider_raw, agent.model_raw, agent.cost) == ("unknown", "unknown", Decimal("0.0079500"))
    crossing = events["71000000-0000-4000-8000-000000000012"]
    assert crossing.occurred_at == utc(2026, 11, 10, 23, 59, 50)  # dated by the run's start
    classifier = events["71000000-0000-4000-8000-000000000014"]
    assert (classifier.provider_raw, classifier.message_id, classifier.occurred_at) == (
        "anthropic",
        "d1000000-0000-4000-8000-000000000011",
        utc(2026, 11, 10, 15),
    )
    assert "71000000-0000-4000-8000-000000000004" not in events  # the iteration's total
    assert "d1000000-0000-4000-8000-000000000011" not in events  # advanced-chat message totals
    assert "71000000-0000-4000-8000-00000000000b" not in events  # debugging run


@pytest.mark.parametrize(
    ("tz", "expected"),
    [
        # statistics/token-costs of Support Chat (07-token-costs-chat-*.json) count d01 (no metadata)
        # and leave out the debugger message d08, which the exporter counts.
        (NEW_YORK, {date(2026, 11, 10): 2815, date(2026, 11, 11): 1070 + 1998}),
        ("UTC", {date(2026, 11, 10): 2315, date(2026, 11, 11): 1570 + 1998}),
    ],
)
def test_chat_tokens_match_difys_daily_totals_plus_the_debugger(tz: str, expected: dict[date, int]) -> None:
    for day, tokens in expected.items():
        events = [e for e in _day(day, tz) if e.app_id == SUPPORT_CHAT]
        assert sum(e.total_tokens for e in events) == tokens


def test_workflow_tokens_match_difys_daily_totals_plus_the_webhook_run() -> None:
    # 07-workflow-token-costs-utc.json: Nov 10 9646, Nov 11 1000 (app-run only); the webhook run
    # f1..03 (768 tokens, Nov 11) is in the app logs, so the exporter counts it.
    by_day = {
        day: sum(e.total_tokens for e in _day(day, "UTC") if e.app_id == INVOICE_PIPELINE)
        for day in (date(2026, 11, 10), date(2026, 11, 11))
    }
    assert by_day == {date(2026, 11, 10): 9646, date(2026, 11, 11): 1000 + 768}


def test_token_costs_reproduce_the_recorded_statistics() -> None:
    ws = fixture_workspace(SEED_FILE)
    rows = ws.token_costs(SUPPORT_CHAT, datetime(2026, 11, 10), datetime(2026, 11, 12), NEW_YORK)
    assert [(r.date, r.token_count, str(r.total_price)) for r in rows] == [
        (date(2026, 11, 10), 2815, "0.0064000"),
        (date(2026, 11, 11), 1070, "0.0034250"),
    ]
    unpriced = ws.token_costs(
        "a1000000-0000-4000-8000-000000000006", datetime(2026, 11, 10), datetime(2026, 11, 12), NEW_YORK
    )
    assert [str(r.total_price) for r in unpriced] == ["0E-7"]


def test_without_detail_reads_chat_uses_the_current_model_and_completion_is_skipped() -> None:
    events = {e.event_id: e for e in _day(date(2026, 11, 10), NEW_YORK, detail_reads="never")}
    old_config = events["d1000000-0000-4000-8000-000000000006"]
    assert (old_config.provider_raw, old_config.model_raw, old_config.approximate) == (
        "langgenius/openai/openai",
        "gpt-4o",
        True,
    )
    assert "d1000000-0000-4000-8000-00000000000b" not in events  # completion
    assert not events["71000000-0000-4000-8000-000000000014"].approximate
    assert len(events) == 16


def test_window_must_be_aware_and_setting_known() -> None:
    ws = fixture_workspace(SEED_FILE)
    with pytest.raises(ValueError, match="timezone-aware"):
        ws.ground_truth(datetime(2026, 11, 10), datetime(2026, 11, 11), "UTC")
    with pytest.raises(ValueError, match="detail_reads"):
        ws.ground_truth(utc(2026, 11, 10), utc(2026, 11, 11), "UTC", "sometimes")
