"""fetch_usage_events against the simulator serving the recorded fixture workspace, over real sockets."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from dify_meter.sandbox.dify.fixture_workspace import fixture_workspace
from dify_meter.sandbox.dify.tables import App
from dify_meter.sandbox.dify.workspace import Workspace
from dify_meter.sources.console.client import DifyClient
from dify_meter.sources.console.errors import DifyHTTPError
from dify_meter.sources.console.events import DETAIL_BATCH_SIZE
from dify_meter_tests.support.console import (
    NO_WAIT,
    FetchedEvents,
    MemoryDetailCache,
    ScriptedSimulator,
    assert_same_events,
    fetch_events,
)
from dify_meter_tests.support.fixture_files import SEED_FILE
from dify_meter_tests.support.grow_workspace import new_id

pytestmark = pytest.mark.integration

NEW_YORK = "America/New_York"
NOV_10 = (datetime(2026, 11, 10, tzinfo=ZoneInfo(NEW_YORK)), datetime(2026, 11, 11, tzinfo=ZoneInfo(NEW_YORK)))
NOV_11 = (NOV_10[1], datetime(2026, 11, 12, tzinfo=ZoneInfo(NEW_YORK)))
RESEARCH_AGENT = "a1000000-0000-4000-8000-000000000002"
SUMMARIZER = "a1000000-0000-4000-8000-000000000003"
DETAIL = re.compile(r"/(chat|completion)-conversations/[0-9a-f-]{36}$")
SCAN = re.compile(r"/(chat-conversations|completion-conversations|chat-messages|workflow-app-logs|node-executions)$")


@pytest.fixture
def workspace() -> Workspace:
    return fixture_workspace(SEED_FILE)


@pytest.fixture
def dify(workspace: Workspace) -> Iterator[ScriptedSimulator]:
    with ScriptedSimulator(workspace, api_key="sandbox-key") as simulator:
        simulator.set_now(datetime(2026, 11, 28, 12, tzinfo=UTC))
        yield simulator


def fetch(
    dify: ScriptedSimulator,
    window: tuple[datetime, datetime],
    cache: MemoryDetailCache,
    *,
    timezone: str = NEW_YORK,
    detail_reads: str = "auto",
) -> FetchedEvents:
    with DifyClient(
        dify.base_url, api_key="sandbox-key", workspace_id=dify.workspace_id, timeout=5, retry=NO_WAIT
    ) as client:
        return fetch_events(client, *window, timezone=timezone, detail_cache=cache, detail_reads=detail_reads)  # type: ignore[arg-type]


def test_nov_10_in_new_york_matches_the_ground_truth(dify: ScriptedSimulator, workspace: Workspace) -> None:
    result = fetch(dify, NOV_10, MemoryDetailCache())
    truth = workspace.ground_truth(*NOV_10, NEW_YORK)
    assert_same_events(result.events, truth)
    assert {event.app_mode for event in truth} == {"chat", "agent-chat", "completion", "advanced-chat", "workflow"}
    assert (result.apps_read, result.skipped_apps, result.warnings) == (6, [], [])
    assert result.requests == len(dify.request_log)
    assert result.detail_reads == sum(dify.detail_reads.values()) == 5


def test_every_detail_is_read_once_across_runs_sharing_a_cache(dify: ScriptedSimulator, workspace: Workspace) -> None:
    cache = MemoryDetailCache()
    first = fetch(dify, NOV_10, cache)
    second = fetch(dify, NOV_11, cache)
    again = fetch(dify, NOV_10, cache)
    assert_same_events(second.events, workspace.ground_truth(*NOV_11, NEW_YORK))
    assert_same_events(again.events, first.events)
    assert dify.detail_reads and set(dify.detail_reads.values()) == {1}
    assert again.detail_reads == 0
    assert len([request for request in dify.request_log if DETAIL.search(request[1])]) == len(dify.detail_reads)
    # the cache got every detail in batches as they were read, with the updated_at the read returned
    assert sum(len(batch) for batch in cache.batches) == first.detail_reads + second.detail_reads
    assert all(len(batch) <= DETAIL_BATCH_SIZE for batch in cache.batches)
    bumped = cache.details["c1000000-0000-4000-8000-000000000001"]
    assert bumped.detail_updated_at == datetime(2026, 11, 28, 12, tzinfo=UTC)
    assert (bumped.provider, bumped.model) == ("langgenius/openai/openai", "gpt-4o")


def test_no_detail_is_read_before_the_last_list_or_message_request(dify: ScriptedSimulator) -> None:
    fetch(dify, (NOV_10[0], NOV_11[1]), MemoryDetailCache())
    paths = [path for _, path, _ in dify.request_log]
    detail_positions = [n for n, path in enumerate(paths) if DETAIL.search(path)]
    scan_positions = [n for n, path in enumerate(paths) if SCAN.search(path)]
    assert detail_positions and scan_positions
    assert min(detail_positions) > max(scan_positions)


def test_never_mode_reads_no_detail_and_matches_the_approximate_ground_truth(
    dify: ScriptedSimulator, workspace: Workspace
) -> None:
    result = fetch(dify, NOV_10, MemoryDetailCache(), detail_reads="never")
    assert_same_events(result.events, workspace.ground_truth(*NOV_10, NEW_YORK, detail_reads="never"))
    assert result.detail_reads == 0 and not dify.detail_reads
    assert not any(DETAIL.search(path) for _, path, _ in dify.request_log)
    assert [(app.app_id, app.mode) for app in result.skipped_apps] == [(SUMMARIZER, "completion")]
    assert "DIFY_DETAIL_READS=never" in result.skipped_apps[0].reason
    assert all(event.approximate for event in result.events if event.source == "message")
    # c1..02 ran on the old 0.x config; without its detail it takes the app's current model
    old_config = [event for event in result.events if event.conversation_id == "c1000000-0000-4000-8000-000000000002"]
    assert {(event.provider_raw, event.model_raw) for event in old_config} == {("langgenius/openai/openai", "gpt-4o")}


def test_a_day_in_utc_and_in_tokyo(dify: ScriptedSimulator, workspace: Workspace) -> None:
    for timezone in ("UTC", "Asia/Tokyo"):
        zone = ZoneInfo(timezone)
        window = (datetime(2026, 11, 10, tzinfo=zone), datetime(2026, 11, 12, tzinfo=zone))
        result = fetch(dify, window, MemoryDetailCache(), timezone=timezone)
        assert_same_events(result.events, workspace.ground_truth(*window, timezone))
        assert {event.usage_date.isoformat() for event in result.events} <= {"2026-11-10", "2026-11-11"}


def test_other_modes_are_skipped_with_the_reason(dify: ScriptedSimulator, workspace: Workspace) -> None:
    channel = workspace.add(
        App(
            id=new_id(0xA),
            name="Slack Channel",
            mode="channel",
            status="normal",
            created_by=workspace.owner.id,
            created_at=datetime(2026, 11, 1, tzinfo=UTC),
        )
    )
    result = fetch(dify, NOV_10, MemoryDetailCache())
    assert [(skipped.app_id, skipped.mode) for skipped in result.skipped_apps] == [(channel.id, "channel")]
    assert not any(channel.id in path for _, path, _ in dify.request_log[2:])
    assert_same_events(result.events, workspace.ground_truth(*NOV_10, NEW_YORK))


def test_an_app_deleted_during_the_scan_is_skipped_with_a_warning(
    dify: ScriptedSimulator, workspace: Workspace
) -> None:
    def delete_after_its_list(method: str, path: str, args: dict[str, str]) -> None:
        if path.endswith(f"{RESEARCH_AGENT}/chat-conversations"):
            workspace.apps[RESEARCH_AGENT].status = "archived"

    dify.after = delete_after_its_list
    result = fetch(dify, NOV_10, MemoryDetailCache())
    skipped = [(app.app_id, app.app_name) for app in result.skipped_apps]
    assert skipped == [(RESEARCH_AGENT, "Research Agent")]
    assert "404" in result.skipped_apps[0].reason
    assert any("Research Agent" in warning and "app_not_found" in warning for warning in result.warnings)
    assert result.apps_read == 5
    assert_same_events(result.events, workspace.ground_truth(*NOV_10, NEW_YORK))  # counts normal apps only


def test_details_read_before_a_failure_are_cached_and_never_read_again(
    dify: ScriptedSimulator, workspace: Workspace
) -> None:
    broken = "c1000000-0000-4000-8000-000000000003"

    def one_detail_fails(method: str, path: str, args: dict[str, str]) -> tuple[int, object] | None:
        if path.endswith(f"/chat-conversations/{broken}"):
            return 503, {"code": "unavailable", "message": "try later", "status": 503}
        return None

    dify.fail = one_detail_fails
    cache = MemoryDetailCache()
    with pytest.raises(DifyHTTPError, match="failed with HTTP 503"):
        fetch(dify, NOV_10, cache)
    # every detail that was read is cached (reads not started yet when the error came are cancelled)
    assert set(cache.details) == set(dify.detail_reads) and broken not in cache.details
    cached_before = len(cache.details)

    dify.fail = lambda *_: None
    result = fetch(dify, NOV_10, cache)
    assert result.detail_reads == 5 - cached_before and set(dify.detail_reads.values()) == {1}
    assert_same_events(result.events, workspace.ground_truth(*NOV_10, NEW_YORK))
