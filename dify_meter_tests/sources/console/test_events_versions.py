"""The console source against each simulated Dify version: the same ground truth, read the cheapest exact way.

1.12.1 lists no model: each chat and agent-chat conversation's detail is read once. 1.14.1 lists each
conversation's own model (D1): no chat or agent-chat detail is read, so Dify's unread markers stay as they
were; completion lists still carry no tokens, so completion keeps its one detail read."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from dify_meter.sandbox.dify.fixture_workspace import fixture_workspace
from dify_meter.sandbox.dify.generate import generate_workspace
from dify_meter.sandbox.dify.server import DifySimulator
from dify_meter.sandbox.dify.workspace import Workspace
from dify_meter.sources.console.client import DifyClient
from dify_meter_tests.support.console import NO_WAIT, FetchedEvents, assert_same_events, fetch_events
from dify_meter_tests.support.fixture_files import SEED_FILE

pytestmark = pytest.mark.integration

NEW_YORK = "America/New_York"
VERSIONS = ["1.12.1", "1.14.1"]
NOV_10 = (datetime(2026, 11, 10, tzinfo=ZoneInfo(NEW_YORK)), datetime(2026, 11, 12, tzinfo=ZoneInfo(NEW_YORK)))
FALL_BACK = date(2026, 10, 30)
DAYS = 4
CHAT_DETAIL = re.compile(r"/chat-conversations/[0-9a-f-]{36}$")
COMPLETION_DETAIL = re.compile(r"/completion-conversations/[0-9a-f-]{36}$")
DETAIL_FREE_MODES = {"chat", "agent-chat"}


@pytest.fixture(params=VERSIONS)
def version(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def serve(workspace: Workspace, version: str, now: datetime) -> DifySimulator:
    simulator = DifySimulator(workspace, api_key="k", dify_version=version).start()
    simulator.set_now(now)
    return simulator


def fetch(dify: DifySimulator, window: tuple[datetime, datetime], detail_reads: str = "auto") -> FetchedEvents:
    with DifyClient(dify.base_url, api_key="k", workspace_id=dify.workspace_id, timeout=10, retry=NO_WAIT) as client:
        return fetch_events(client, *window, timezone=NEW_YORK, detail_reads=detail_reads)


@pytest.fixture
def recorded_workspace(version: str) -> Iterator[DifySimulator]:
    dify = serve(fixture_workspace(SEED_FILE), version, datetime(2026, 11, 28, 12, tzinfo=UTC))
    yield dify
    dify.stop()


@pytest.fixture
def generated_workspace(version: str) -> Iterator[DifySimulator]:
    dify = serve(generate_workspace(7, FALL_BACK, DAYS), version, datetime(2026, 12, 1, tzinfo=UTC))
    yield dify
    dify.stop()


def _chat_detail_reads(dify: DifySimulator) -> int:
    return sum(1 for _, path, _ in dify.request_log if CHAT_DETAIL.search(path))


def _unread_chat_conversations(ws: Workspace) -> set[str]:
    return {
        c.id for c in ws.conversations.values() if ws.apps[c.app_id].mode in DETAIL_FREE_MODES and c.read_at is None
    }


def test_the_recorded_workspace_gives_the_ground_truth_in_every_version(
    recorded_workspace: DifySimulator, version: str
) -> None:
    dify = recorded_workspace
    unread_before = _unread_chat_conversations(dify.workspace)
    result = fetch(dify, NOV_10)
    assert_same_events(result.events, dify.workspace.ground_truth(*NOV_10, NEW_YORK))
    assert result.dify_version == version and result.warnings == []
    completion_reads = sum(1 for _, path, _ in dify.request_log if COMPLETION_DETAIL.search(path))
    assert completion_reads == 2  # completion lists never carry tokens
    if version == "1.14.1":
        assert _chat_detail_reads(dify) == 0
        assert _unread_chat_conversations(dify.workspace) == unread_before  # read_at stays null
    else:  # each read marks one conversation read
        marked = unread_before - _unread_chat_conversations(dify.workspace)
        assert _chat_detail_reads(dify) == len(marked) > 0


def test_a_generated_range_gives_the_ground_truth_and_1_14_reads_no_chat_detail(
    generated_workspace: DifySimulator, version: str
) -> None:
    dify = generated_workspace
    window = (datetime(2026, 10, 30, tzinfo=ZoneInfo(NEW_YORK)), datetime(2026, 11, 3, tzinfo=ZoneInfo(NEW_YORK)))
    result = fetch(dify, window)
    assert_same_events(result.events, dify.workspace.ground_truth(*window, NEW_YORK))
    chat_events = [event for event in result.events if event.app_mode in DETAIL_FREE_MODES]
    assert chat_events and not any(event.approximate for event in chat_events)
    assert (_chat_detail_reads(dify) == 0) == (version == "1.14.1")
    assert result.requests == len(dify.request_log)


def test_never_reading_details_loses_nothing_for_chat_on_1_14() -> None:
    dify = serve(generate_workspace(7, FALL_BACK, DAYS), "1.14.1", datetime(2026, 12, 1, tzinfo=UTC))
    try:
        window = (
            datetime(2026, 10, 30, tzinfo=ZoneInfo(NEW_YORK)),
            datetime(2026, 10, 30, tzinfo=ZoneInfo(NEW_YORK)) + timedelta(days=DAYS),
        )
        result = fetch(dify, window, detail_reads="never")
        exact = [
            event for event in dify.workspace.ground_truth(*window, NEW_YORK) if event.app_mode in DETAIL_FREE_MODES
        ]
    finally:
        dify.stop()
    assert exact
    assert_same_events([event for event in result.events if event.app_mode in DETAIL_FREE_MODES], exact)
    assert result.detail_reads == 0
