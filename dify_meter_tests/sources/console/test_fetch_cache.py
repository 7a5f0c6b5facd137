"""The fetch caches (dify_meter/sources/console/caches.py): a warm cache spares the reads of what cannot have changed,
and never makes the events differ from the ground truth, also after the workspace changed."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import pytest

from dify_meter.sandbox.dify.changes import add_messages
from dify_meter.sandbox.dify.exchange import Reply
from dify_meter.sandbox.dify.generate import Workspace, generate_workspace
from dify_meter.sandbox.dify.server import DifySimulator
from dify_meter.sandbox.dify.tables import DEBUGGER, Conversation, Message, NodeExecution, WorkflowRun
from dify_meter.sandbox.loopback import Request
from dify_meter.sources.console.client import DifyClient
from dify_meter_tests.support.console import (
    NO_WAIT,
    FetchedEvents,
    MemoryDetailCache,
    MemoryFetchCache,
    assert_same_events,
    fetch_events,
)

pytestmark = pytest.mark.integration

DAY = (datetime(2026, 6, 2, tzinfo=UTC), datetime(2026, 6, 3, tzinfo=UTC))
THREE_DAYS = (datetime(2026, 6, 1, tzinfo=UTC), datetime(2026, 6, 4, tzinfo=UTC))
LEAF_TYPES = ("llm", "question-classifier", "parameter-extractor", "agent")


@dataclass
class Caches:
    details: MemoryDetailCache = field(default_factory=MemoryDetailCache)
    runs_and_messages: MemoryFetchCache = field(default_factory=MemoryFetchCache)


@pytest.fixture
def dify() -> Iterator[DifySimulator]:
    with DifySimulator(generate_workspace(3, date(2026, 6, 1), 3), api_key="k") as simulator:
        yield simulator


def fetch(
    dify: DifySimulator, caches: Caches, window: tuple[datetime, datetime] = DAY, **options: object
) -> tuple[FetchedEvents, list[str]]:
    """The fetch's result and the paths it requested."""
    before = len(dify.request_log)
    with DifyClient(dify.base_url, api_key="k", workspace_id=dify.workspace_id, timeout=10, retry=NO_WAIT) as client:
        result = fetch_events(
            client,
            *window,
            timezone="UTC",
            detail_cache=caches.details,
            fetch_cache=caches.runs_and_messages,
            **options,
        )
    return result, [record.path for record in dify.request_log[before:]]


def count(paths: list[str], suffix: str) -> int:
    return sum(path.endswith(suffix) for path in paths)


def node_reads(paths: list[str], run_id: str) -> int:
    return count(paths, f"/workflow-runs/{run_id}/node-executions")


def in_window_runs(ws: Workspace, mode: str) -> list[WorkflowRun]:
    """Ended runs of `mode` in DAY with a usage-bearing node, oldest first."""
    apps = {app.id for app in ws.apps.values() if app.mode == mode and app.status == "normal"}
    runs = [
        run
        for run in ws.workflow_runs.values()
        if run.app_id in apps
        and run.triggered_from != "debugging"
        and run.status == "succeeded"
        and DAY[0] <= run.created_at < DAY[1]
        and any(n.node_type in LEAF_TYPES for n in ws.nodes_of(run.id))
    ]
    if mode == "workflow":
        runs = [run for run in runs if ws.log_of_run(run.id) is not None]
    return sorted(runs, key=lambda run: run.created_at)


def make_running(ws: Workspace, run: WorkflowRun) -> tuple[NodeExecution, dict[str, object]]:
    """The run as Dify shows it while its last model call is still going: no usage on that node yet."""
    node = [n for n in ws.nodes_of(run.id) if n.node_type in LEAF_TYPES][-1]
    ended = {
        "status": node.status,
        "process_data": node.process_data,
        "outputs": node.outputs,
        "execution_metadata": node.execution_metadata,
        "finished_at": node.finished_at,
    }
    node.status, node.process_data, node.outputs, node.execution_metadata, node.finished_at = (
        "running",
        None,
        None,
        {},
        None,
    )
    run.status = "running"
    return node, ended


def finish(run: WorkflowRun, node: NodeExecution, ended: dict[str, object]) -> None:
    for name, value in ended.items():
        setattr(node, name, value)
    run.status = "succeeded"


def test_a_warm_cache_reads_no_messages_and_no_nodes_and_gives_the_same_events(dify: DifySimulator) -> None:
    caches = Caches()
    first, first_paths = fetch(dify, caches)
    truth = dify.workspace.ground_truth(*DAY, "UTC")
    assert_same_events(first.events, truth)
    assert first.conversations_read > 0 and first.runs_read > 0 and first.detail_reads > 0
    assert (first.conversations_cached, first.runs_cached) == (0, 0)

    second, paths = fetch(dify, caches)
    assert_same_events(second.events, truth)
    assert count(paths, "/chat-messages") == count(paths, "/node-executions") == 0
    assert second.detail_reads == 0
    assert (second.conversations_cached, second.runs_cached) == (first.conversations_read, first.runs_read)
    assert len(paths) < len(first_paths) / 4  # what is left: app list, conversation lists, app logs


def test_the_detail_reads_bump_is_not_taken_for_new_messages(dify: DifySimulator) -> None:
    caches = Caches()
    fetch(dify, caches)
    bumped = [detail for detail in caches.details.details.values() if detail.detail_updated_at is not None]
    assert bumped
    for detail in bumped:  # the list now shows the time of our read, not the conversation's last message
        conversation = dify.workspace.conversations[detail.conversation_id]
        cached = caches.runs_and_messages.conversations[detail.conversation_id]
        assert conversation.updated_at == detail.detail_updated_at != cached.listed_updated_at
    second, paths = fetch(dify, caches)
    assert count(paths, "/chat-messages") == 0
    assert_same_events(second.events, dify.workspace.ground_truth(*DAY, "UTC"))


def test_a_new_message_in_a_cached_conversation_moves_updated_at_and_it_is_read_again(dify: DifySimulator) -> None:
    caches = Caches()
    fetch(dify, caches)
    ws = dify.workspace
    cached = caches.runs_and_messages.conversations
    chat = next(c for c in ws.conversations.values() if c.id in cached and c.mode == "chat")
    advanced = next(c for c in ws.conversations.values() if c.id in cached and c.mode == "advanced-chat")
    new_chat = add_messages(ws, chat.id, [DAY[0] + timedelta(hours=23, minutes=59)])
    new_advanced = add_messages(ws, advanced.id, [DAY[0] + timedelta(hours=23, minutes=58)])

    second, paths = fetch(dify, caches)
    assert_same_events(second.events, ws.ground_truth(*DAY, "UTC"))
    assert {new_chat[0].id, new_advanced[0].id} <= {event.message_id for event in second.events}
    reread = {
        record.query["conversation_id"]
        for record in dify.request_log[-len(paths) :]
        if record.path.endswith("/chat-messages")
    }
    assert reread == {chat.id, advanced.id}
    assert count(paths, "/node-executions") == 1  # only the new message's run
    assert new_advanced[0].workflow_run_id and node_reads(paths, new_advanced[0].workflow_run_id) == 1


def test_a_new_message_in_the_same_second_as_the_last_update_is_found_by_message_count(dify: DifySimulator) -> None:
    caches = Caches()
    fetch(dify, caches)
    ws = dify.workspace
    detail = next(d for d in caches.details.details.values() if d.detail_updated_at is not None)
    conversation = ws.conversations[detail.conversation_id]
    # a message in the second of our detail read: updated_at does not move, only message_count does
    added = add_messages(ws, conversation.id, [detail.detail_updated_at])
    assert conversation.updated_at == detail.detail_updated_at

    second, paths = fetch(dify, caches, now=lambda: conversation.updated_at + timedelta(hours=2))
    reread = [record for record in dify.request_log[-len(paths) :] if record.path.endswith("/chat-messages")]
    assert [record.query["conversation_id"] for record in reread] == [conversation.id]
    cached = caches.runs_and_messages.conversations[conversation.id]
    assert added[0].id in {message.message_id for message in cached.messages}
    assert_same_events(second.events, ws.ground_truth(*DAY, "UTC"))


def test_cached_conversations_serve_another_window(dify: DifySimulator) -> None:
    caches = Caches()
    whole, _ = fetch(dify, caches, THREE_DAYS)
    assert_same_events(whole.events, dify.workspace.ground_truth(*THREE_DAYS, "UTC"))
    day, paths = fetch(dify, caches, DAY)
    assert_same_events(day.events, dify.workspace.ground_truth(*DAY, "UTC"))
    assert count(paths, "/chat-messages") == count(paths, "/node-executions") == 0

    caches = Caches()  # and the other way round: one day first, then the range
    fetch(dify, caches, DAY)
    whole_again, paths = fetch(dify, caches, THREE_DAYS)
    assert_same_events(whole_again.events, dify.workspace.ground_truth(*THREE_DAYS, "UTC"))
    assert whole_again.conversations_cached > 0 and whole_again.runs_cached > 0


def test_a_workflow_run_still_running_when_read_is_read_again_once_it_ended(dify: DifySimulator) -> None:
    ws = dify.workspace
    run, other = in_window_runs(ws, "workflow")[:2]
    node, ended = make_running(ws, run)  # Dify versions that log a run when it starts list it like this
    caches = Caches()
    first, _ = fetch(dify, caches)
    assert_same_events(first.events, ws.ground_truth(*DAY, "UTC"))
    assert node.id not in {event.event_id for event in first.events}
    assert run.id not in caches.runs_and_messages.runs and other.id in caches.runs_and_messages.runs

    finish(run, node, ended)
    second, paths = fetch(dify, caches)
    assert_same_events(second.events, ws.ground_truth(*DAY, "UTC"))
    assert node.id in {event.event_id for event in second.events}
    assert node_reads(paths, run.id) == 1 and node_reads(paths, other.id) == 0
    assert caches.runs_and_messages.runs[run.id].status == "succeeded"


def test_an_advanced_chat_run_still_running_when_read_is_read_again_once_it_ended(dify: DifySimulator) -> None:
    ws = dify.workspace
    run = in_window_runs(ws, "advanced-chat")[0]
    message = ws.message_of_run(run.id)
    assert message is not None
    node, ended = make_running(ws, run)
    caches = Caches()
    first, _ = fetch(dify, caches)
    assert_same_events(first.events, ws.ground_truth(*DAY, "UTC"))
    # its conversation's status_count leaves the running run out, so none of its runs is cached
    siblings = [m.workflow_run_id for m in ws.messages_of(message.conversation_id) if m.workflow_run_id]
    assert not set(siblings) & set(caches.runs_and_messages.runs)

    finish(run, node, ended)
    second, paths = fetch(dify, caches)
    assert_same_events(second.events, ws.ground_truth(*DAY, "UTC"))
    assert node.id in {event.event_id for event in second.events}
    assert node_reads(paths, run.id) == 1
    assert run.id in caches.runs_and_messages.runs


def test_a_message_still_being_answered_is_not_cached_without_its_tokens(dify: DifySimulator) -> None:
    ws = dify.workspace
    conversation = latest_chat_conversation(ws, DAY)
    message = last_message(ws, conversation)
    final_tokens = (message.message_tokens, message.answer_tokens, message.metadata)
    message.message_tokens, message.answer_tokens, message.metadata = 0, 0, {}  # as Dify writes it at the start
    caches = Caches()
    just_after = message.created_at + timedelta(seconds=5)
    first, _ = fetch(dify, caches, now=lambda: just_after)
    assert conversation.id not in caches.runs_and_messages.conversations
    assert_same_events(first.events, ws.ground_truth(*DAY, "UTC"))

    message.message_tokens, message.answer_tokens, message.metadata = final_tokens  # answered; updated_at stays
    second, _ = fetch(dify, caches, now=lambda: just_after + timedelta(hours=2))
    assert_same_events(second.events, ws.ground_truth(*DAY, "UTC"))
    event = next(e for e in second.events if e.event_id == message.id)
    assert (event.input_tokens, event.output_tokens) == final_tokens[:2] != (0, 0)
    assert conversation.id in caches.runs_and_messages.conversations  # old enough now


def test_a_conversation_read_short_of_its_message_count_is_not_cached(dify: DifySimulator) -> None:
    ws = dify.workspace
    conversation = latest_chat_conversation(ws, DAY)
    lost = ws.messages_of(conversation.id)[0]

    def lose_one_message(request: Request) -> Reply | None:
        if not (request.path.endswith("/chat-messages") and request.query.get("conversation_id") == conversation.id):
            return None
        reply = DifySimulator.respond(dify, request.method, request.path, request.query, request.headers)
        page = dict(reply.body, data=[m for m in reply.body["data"] if m["id"] != lost.id])
        return Reply(reply.status, page)

    dify.intercept(lose_one_message)
    caches = Caches()
    first, _ = fetch(dify, caches)
    assert any(f"conversation {conversation.id} lists" in warning for warning in first.warnings)
    assert conversation.id not in caches.runs_and_messages.conversations

    dify.clear_hooks()
    second, _ = fetch(dify, caches)
    assert_same_events(second.events, ws.ground_truth(*DAY, "UTC"))


def latest_chat_conversation(ws: Workspace, window: tuple[datetime, datetime]) -> Conversation:
    """The chat conversation whose newest message is the latest one in `window`."""
    candidates = [
        c
        for c in ws.conversations.values()
        if c.mode == "chat"
        and ws.apps[c.app_id].status == "normal"
        and c.invoke_from != DEBUGGER
        and ws.messages_of(c.id)
        and window[0] <= last_message(ws, c).created_at < window[1]
    ]
    return max(candidates, key=lambda c: last_message(ws, c).created_at)


def last_message(ws: Workspace, conversation: Conversation) -> Message:
    return max(ws.messages_of(conversation.id), key=lambda m: m.created_at)
