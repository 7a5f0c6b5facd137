"""Every paging path of the extraction, on the fixture workspace grown past Dify's page size of 100."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from dify_meter.sandbox.dify.fixture_workspace import fixture_workspace
from dify_meter.sandbox.dify.tables import Conversation
from dify_meter.sandbox.dify.workspace import Workspace
from dify_meter.sources.console.client import DifyClient
from dify_meter_tests.support.console import NO_WAIT, ScriptedSimulator, assert_same_events, fetch_events
from dify_meter_tests.support.fixture_files import SEED_FILE
from dify_meter_tests.support.grow_workspace import (
    DANA_RUN,
    EXPLORE_CONVERSATION,
    INVOICE_PIPELINE,
    LOCAL_LLAMA,
    SUPPORT_CHAT,
    add_apps,
    add_conversation,
    add_message,
    add_workflow_runs,
    every,
)

pytestmark = pytest.mark.integration

NEW_YORK = ZoneInfo("America/New_York")
WINDOW = (datetime(2026, 11, 10, tzinfo=NEW_YORK), datetime(2026, 11, 11, tzinfo=NEW_YORK))
NOON = datetime(2026, 11, 10, 17, tzinfo=UTC)  # 12:00 in New York


def grown() -> tuple[Workspace, Conversation]:
    ws = fixture_workspace(SEED_FILE)
    add_apps(ws, LOCAL_LLAMA, 101)  # 107 apps: two pages
    for start in every(NOON, timedelta(minutes=2), 130):  # 130 more conversations: two pages
        add_conversation(ws, EXPLORE_CONVERSATION, [start])
    # 250 messages in bursts of three per second: pages of 100 end inside a burst
    bursts = [NOON + timedelta(seconds=second) for second in range(84) for _ in range(3)][:250]
    long_conversation = add_conversation(ws, EXPLORE_CONVERSATION, bursts)
    add_workflow_runs(ws, DANA_RUN, every(NOON, timedelta(minutes=3), 120))  # 124 app logs: two pages
    return ws, long_conversation


@pytest.fixture
def dify() -> Iterator[tuple[ScriptedSimulator, Conversation]]:
    ws, long_conversation = grown()
    with ScriptedSimulator(ws, api_key="k") as simulator:
        yield simulator, long_conversation


def client_of(dify: ScriptedSimulator) -> DifyClient:
    return DifyClient(dify.base_url, api_key="k", workspace_id=dify.workspace_id, timeout=10, retry=NO_WAIT)


def pages(dify: ScriptedSimulator, suffix: str) -> list[str]:
    return [args.get("page", "") for _, path, args in dify.request_log if path.endswith(suffix)]


def test_every_paging_path_and_the_result_equals_the_ground_truth(dify: tuple[ScriptedSimulator, Conversation]) -> None:
    simulator, long_conversation = dify
    with client_of(simulator) as client:
        result = fetch_events(client, *WINDOW, timezone="America/New_York")
    assert_same_events(result.events, simulator.workspace.ground_truth(*WINDOW, "America/New_York"))
    assert result.warnings == [] and result.apps_read == 107

    assert pages(simulator, "/console/api/apps") == ["1", "2"]
    assert pages(simulator, f"{SUPPORT_CHAT}/chat-conversations")[:2] == ["1", "2"]
    assert pages(simulator, f"{INVOICE_PIPELINE}/workflow-app-logs") == ["1", "2"]
    first_ids = [
        args.get("first_id")
        for _, path, args in simulator.request_log
        if path.endswith("/chat-messages") and args["conversation_id"] == long_conversation.id
    ]
    assert len(first_ids) > 3  # three pages of plain first_id paging, then overlapping re-reads
    assert sum(event.conversation_id == long_conversation.id for event in result.events) == 250


def test_plain_first_id_paging_really_loses_messages_in_this_workspace(
    dify: tuple[ScriptedSimulator, Conversation],
) -> None:
    simulator, long_conversation = dify
    with client_of(simulator) as client:
        app = next(app for app in client.iter_apps() if app.id == SUPPORT_CHAT)
        seen = {
            message.id for page in client.iter_chat_message_pages(app, long_conversation.id) for message in page.data
        }
    assert 0 < len(seen) < 250


def test_a_conversation_that_jumps_to_page_one_while_paging_is_not_lost(
    dify: tuple[ScriptedSimulator, Conversation],
) -> None:
    simulator, _ = dify
    ws = simulator.workspace
    listed = [c for c in ws.conversations_of(SUPPORT_CHAT) if c.updated_at >= WINDOW[0]]
    jumper = min(listed, key=lambda c: c.updated_at)  # last in the -updated_at order: on page two
    moved: list[str] = []

    def new_message_after_page_one(method: str, path: str, args: dict[str, str]) -> None:
        if path.endswith(f"{SUPPORT_CHAT}/chat-conversations") and args.get("page") == "1" and not moved:
            later = datetime(2026, 11, 20, tzinfo=UTC)  # outside the window: only its move matters
            add_message(ws, jumper, ws.messages_of(jumper.id)[0], later)
            jumper.updated_at = later
            moved.append(jumper.id)

    simulator.after = new_message_after_page_one
    with client_of(simulator) as client:
        result = fetch_events(client, *WINDOW, timezone="America/New_York")
    assert moved
    assert_same_events(result.events, ws.ground_truth(*WINDOW, "America/New_York"))
    assert any(event.conversation_id == jumper.id for event in result.events)
    assert Counter(pages(simulator, f"{SUPPORT_CHAT}/chat-conversations"))["1"] == 2  # the top was re-read
