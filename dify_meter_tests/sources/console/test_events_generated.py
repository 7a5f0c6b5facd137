"""fetch_usage_events over multi-day ranges of generated workspaces, across DST changes, against the
simulator's independent ground truth."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from dify_meter.sandbox.dify.generate import Workspace, generate_workspace
from dify_meter.sandbox.dify.server import DifySimulator
from dify_meter.sources.console.client import DifyClient
from dify_meter_tests.support.console import (
    NO_WAIT,
    FetchedEvents,
    MemoryDetailCache,
    assert_same_events,
    fetch_events,
)

pytestmark = pytest.mark.integration

FALL_BACK = date(2026, 10, 30)  # New York leaves DST on Sunday 2026-11-01
SPRING_FORWARD = date(2026, 3, 6)  # and enters it on Sunday 2026-03-08
DAYS = 4
DETAIL = re.compile(r"/(chat|completion)-conversations/[0-9a-f-]{36}$")
SCAN = re.compile(r"/(chat-conversations|completion-conversations|chat-messages|workflow-app-logs|node-executions)$")


def days_in(timezone: str, first: date, count: int) -> tuple[datetime, datetime]:
    zone = ZoneInfo(timezone)
    last = first + timedelta(days=count)
    return (
        datetime(first.year, first.month, first.day, tzinfo=zone),
        datetime(last.year, last.month, last.day, tzinfo=zone),
    )


@contextmanager
def serving(first_day: date) -> Iterator[DifySimulator]:
    """DAYS days of generated traffic from `first_day` (owner in New York) behind the simulator."""
    with DifySimulator(generate_workspace(7, first_day, DAYS), api_key="k") as dify:
        dify.set_now(datetime(2026, 12, 1, tzinfo=UTC))
        yield dify


@pytest.fixture
def simulator() -> Iterator[DifySimulator]:
    with serving(FALL_BACK) as dify:
        yield dify


def fetch(
    dify: DifySimulator,
    window: tuple[datetime, datetime],
    timezone: str,
    cache: MemoryDetailCache,
    detail_reads: str = "auto",
) -> FetchedEvents:
    with DifyClient(dify.base_url, api_key="k", workspace_id=dify.workspace_id, timeout=10, retry=NO_WAIT) as client:
        return fetch_events(client, *window, timezone=timezone, detail_cache=cache, detail_reads=detail_reads)


def long_thread(ws: Workspace) -> str:
    return next(c.id for c in ws.conversations.values() if c.name == "Long thread")


@pytest.mark.parametrize(
    ("first_day", "timezone", "dst_day"),
    [
        (FALL_BACK, "America/New_York", date(2026, 11, 1)),
        (SPRING_FORWARD, "America/New_York", date(2026, 3, 8)),
        (FALL_BACK, "UTC", None),
        (FALL_BACK, "Asia/Tokyo", None),
        (FALL_BACK, "America/Chicago", date(2026, 11, 1)),  # its midnight then is 01:00 in New York: ambiguous
    ],
)
def test_a_multi_day_range_is_read_once_and_equals_the_ground_truth(
    first_day: date, timezone: str, dst_day: date | None
) -> None:
    window = days_in(timezone, first_day, DAYS)
    with serving(first_day) as simulator:
        result = fetch(simulator, window, timezone, MemoryDetailCache())
    truth = simulator.workspace.ground_truth(*window, timezone)
    assert_same_events(result.events, truth)
    assert {event.usage_date for event in result.events} == {first_day + timedelta(days=n) for n in range(DAYS)}
    assert {event.app_mode for event in truth} == {"chat", "agent-chat", "completion", "advanced-chat", "workflow"}
    if dst_day:  # the 23- or 25-hour day is whole: events in its last hour carry its date
        last_hour = days_in(timezone, dst_day, 1)[1] - timedelta(hours=1)
        assert any(event.usage_date == dst_day and event.occurred_at >= last_hour for event in result.events)

    paths = [path for _, path, _ in simulator.request_log]
    assert paths.count("/console/api/apps") == 1 and paths.count("/console/api/account/profile") == 1
    plain_reads = Counter(
        args["conversation_id"]
        for _, path, args in simulator.request_log
        if path.endswith("/chat-messages") and "first_id" not in args
    )
    assert set(plain_reads.values()) == {1}  # each conversation once for the whole range
    detail_positions = [n for n, path in enumerate(paths) if DETAIL.search(path)]
    assert min(detail_positions) > max(n for n, path in enumerate(paths) if SCAN.search(path))
    assert set(simulator.detail_reads.values()) == {1}
    assert [skipped.app_name for skipped in result.skipped_apps] == ["Knowledge Pipeline", "Archived Bot"]
    assert len(result.warnings) == 1 and "Archived Bot" in result.warnings[0]  # no message left unread


def test_the_long_thread_loses_a_message_to_first_id_paging_and_gets_it_back(simulator: DifySimulator) -> None:
    window = days_in("America/New_York", FALL_BACK, DAYS)
    result = fetch(simulator, window, "America/New_York", MemoryDetailCache())
    thread = long_thread(simulator.workspace)
    reads = [
        args.get("first_id")
        for _, path, args in simulator.request_log
        if path.endswith("/chat-messages") and args["conversation_id"] == thread
    ]
    assert len(reads) == 3  # newest 100, the older page, one overlapping re-read
    assert_same_events(result.events, simulator.workspace.ground_truth(*window, "America/New_York"))
    in_window = [m for m in simulator.workspace.messages_of(thread) if window[0] <= m.created_at < window[1]]
    assert sum(event.conversation_id == thread for event in result.events) == len(in_window) > 100


def test_day_by_day_runs_and_a_range_run_share_the_cache_and_read_each_detail_once(simulator: DifySimulator) -> None:
    cache = MemoryDetailCache()
    daily: list[FetchedEvents] = []
    for offset in range(DAYS):
        window = days_in("America/New_York", FALL_BACK + timedelta(days=offset), 1)
        daily.append(fetch(simulator, window, "America/New_York", cache))
        assert_same_events(daily[-1].events, simulator.workspace.ground_truth(*window, "America/New_York"))
    whole = fetch(simulator, days_in("America/New_York", FALL_BACK, DAYS), "America/New_York", cache)
    assert_same_events(whole.events, [event for result in daily for event in result.events])
    assert whole.detail_reads == 0
    assert sum(result.detail_reads for result in daily) == len(simulator.detail_reads) == len(cache.details)
    assert set(simulator.detail_reads.values()) == {1}


def test_never_mode_equals_the_approximate_ground_truth(simulator: DifySimulator) -> None:
    window = days_in("America/New_York", FALL_BACK, DAYS)
    result = fetch(simulator, window, "America/New_York", MemoryDetailCache(), detail_reads="never")
    assert_same_events(
        result.events, simulator.workspace.ground_truth(*window, "America/New_York", detail_reads="never")
    )
    assert not simulator.detail_reads and result.detail_reads == 0
    assert {skipped.app_name for skipped in result.skipped_apps if skipped.mode == "completion"} == {
        "Summarizer",
        "Translator",
        "Community Writer",
    }
