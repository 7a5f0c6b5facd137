"""Lists that change between two page requests, with the simulator's change helpers: the extraction still
equals the ground truth (nothing lost, nothing counted twice). Pages of 5 put many boundaries in each list."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta

import pytest

from dify_meter.sandbox.dify.changes import add_conversation, add_messages, add_workflow_runs
from dify_meter.sandbox.dify.exchange import RequestRecord
from dify_meter.sandbox.dify.generate import generate_workspace
from dify_meter.sandbox.dify.server import DifySimulator
from dify_meter.sandbox.dify.tables import App
from dify_meter.sources.console.client import DifyClient
from dify_meter_tests.support.console import NO_WAIT, FetchedEvents, assert_same_events, fetch_events

pytestmark = pytest.mark.integration

WINDOW = (datetime(2026, 6, 2, tzinfo=UTC), datetime(2026, 6, 3, tzinfo=UTC))
NOW = datetime(2026, 6, 3, 5, tzinfo=UTC)  # just after the last generated row (days end in New York)
READ_PAST_END = 6 * 3600  # so that logs written now are inside the app-log query, and move it


@pytest.fixture
def dify() -> Iterator[DifySimulator]:
    with DifySimulator(generate_workspace(3, date(2026, 6, 1), 2), api_key="k") as simulator:
        simulator.set_now(NOW)
        yield simulator


def fetch(dify: DifySimulator, window: tuple[datetime, datetime] = WINDOW) -> FetchedEvents:
    with DifyClient(
        dify.base_url, api_key="k", workspace_id=dify.workspace_id, timeout=10, retry=NO_WAIT, page_limit=5
    ) as client:
        return fetch_events(client, *window, timezone="UTC", max_run_seconds=READ_PAST_END)


def assert_exact(dify: DifySimulator, result: FetchedEvents, window: tuple[datetime, datetime] = WINDOW) -> None:
    assert_same_events(result.events, dify.workspace.ground_truth(*window, "UTC"))


def busiest(dify: DifySimulator, mode: str) -> App:
    ws = dify.workspace
    apps = [app for app in ws.apps.values() if app.mode == mode and app.status == "normal"]
    return max(apps, key=lambda app: len(ws.conversations_of(app.id)) + len(ws.logs_of(app.id)))


def pages_read(dify: DifySimulator, suffix: str) -> list[str]:
    return [record.query["page"] for record in dify.request_log if record.path.endswith(suffix)]


def once(predicate: Callable[[RequestRecord], bool]) -> Callable[[RequestRecord], bool]:
    """`predicate`, true for its first match only."""
    fired: list[bool] = []

    def first_time(record: RequestRecord) -> bool:
        if fired or not predicate(record):
            return False
        fired.append(True)
        return True

    return first_time


def test_conversations_that_jump_to_the_top_while_paging_are_read_once(dify: DifySimulator) -> None:
    app = busiest(dify, "chat")
    ws = dify.workspace
    listed = sorted((c for c in ws.conversations_of(app.id) if c.updated_at >= WINDOW[0]), key=lambda c: c.updated_at)
    jumpers = [listed[0].id, listed[1].id]  # the two oldest: on the last page
    dify.mutate_on(f"{app.id}/chat-conversations", 1, lambda ws: [add_messages(ws, cid, [NOW]) for cid in jumpers])
    result = fetch(dify)
    assert all(ws.conversations[cid].updated_at == NOW for cid in jumpers)
    assert_exact(dify, result)
    assert {cid for cid in jumpers} <= {event.conversation_id for event in result.events}
    assert Counter(pages_read(dify, f"{app.id}/chat-conversations"))["1"] == 2  # the top was read again


def test_new_conversations_arriving_while_paging_shift_nothing_out(dify: DifySimulator) -> None:
    app = busiest(dify, "chat")
    dify.mutate_on(
        f"{app.id}/chat-conversations",
        2,
        lambda ws: [add_conversation(ws, app.id, [NOW + timedelta(seconds=n)]) for n in range(3)],
    )
    result = fetch(dify)
    assert_exact(dify, result)
    assert len(dify.workspace.conversations_of(app.id)) == 47 + 3


def test_new_app_logs_pushing_items_onto_the_next_page_count_each_run_once(dify: DifySimulator) -> None:
    app = busiest(dify, "workflow")
    ws = dify.workspace

    def late_runs(ws_: object) -> None:
        add_workflow_runs(ws, app.id, [NOW - timedelta(minutes=1)])  # started after the window: a new top log
        started_inside = add_workflow_runs(ws, app.id, [WINDOW[1] - timedelta(minutes=10)])[0]
        log = ws.log_of_run(started_inside.id)
        assert log is not None
        log.created_at = NOW  # a long run of the window that ends just now: its log arrives on top

    dify.mutate_on(f"{app.id}/workflow-app-logs", 1, late_runs)
    result = fetch(dify)
    assert_exact(dify, result)
    late = [run for run in ws.runs_of(app.id) if run.created_at == WINDOW[1] - timedelta(minutes=10)]
    assert late and late[0].id in {event.workflow_run_id for event in result.events}
    assert Counter(pages_read(dify, f"{app.id}/workflow-app-logs"))["1"] == 2


def test_messages_added_while_a_long_conversation_is_paged_change_nothing_in_the_window(dify: DifySimulator) -> None:
    ws = dify.workspace
    long_thread = next(c for c in ws.conversations.values() if c.name == "Long thread")  # June 3, 02:30 to 03:59
    window = (WINDOW[1], NOW)
    last = ws.messages_of(long_thread.id)[-1].created_at
    add_messages(ws, long_thread.id, [last + timedelta(seconds=n) for n in range(1, 13)])  # 110: two pages

    def of_long_thread(record: RequestRecord) -> bool:
        return record.path.endswith("/chat-messages") and record.query["conversation_id"] == long_thread.id

    dify.after_request(
        once(of_long_thread), lambda record: add_messages(ws, long_thread.id, [NOW, NOW + timedelta(seconds=1)])
    )
    result = fetch(dify, window)
    assert_exact(dify, result, window)
    assert sum(event.conversation_id == long_thread.id for event in result.events) == 110
    assert len(ws.messages_of(long_thread.id)) == 98 + 12 + 2
    assert len([record for record in dify.request_log if of_long_thread(record)]) >= 2


def test_an_app_deleted_while_the_app_list_is_paged_skips_no_other_app(dify: DifySimulator) -> None:
    ws = dify.workspace
    newest_first = sorted(ws.apps.values(), key=lambda app: app.created_at, reverse=True)
    gone = newest_first[0]

    def delete(ws_: object) -> None:
        del ws.apps[gone.id]  # a page already read loses an item: the next page starts one too far

    dify.mutate_on("/console/api/apps", 1, delete)
    result = fetch(dify)
    assert gone.id not in ws.apps
    assert_exact(dify, result)
    assert pages_read(dify, "/console/api/apps") == ["1", "2", "3", "1", "2", "3"]  # 16 apps, then 15: again
    assert result.apps_read == len(
        [app for app in ws.apps.values() if app.status == "normal" and app.mode != "rag-pipeline"]
    )
