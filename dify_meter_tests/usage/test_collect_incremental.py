"""Re-materializing a day with the DuckDB fetch caches (issue 7): only what may be new is read from Dify, and the
stored rows stay equal to the ground truth."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from dify_meter.core.store import DuckDBStore
from dify_meter.sandbox.dify.changes import add_messages, add_workflow_runs
from dify_meter.sandbox.dify.generate import generate_workspace
from dify_meter.sandbox.dify.server import DifySimulator
from dify_meter.sources.console.caches import ConversationMessages, FinishedRun
from dify_meter.sources.console.duckdb_fetch_cache import DuckDBFetchCache
from dify_meter.sources.console.usage_facts import MessageUsage, NodeUsage
from dify_meter_tests.support.console import assert_same_events
from dify_meter_tests.support.events import day_window, stored_events
from dify_meter_tests.support.settings import refresh_raw, settings_for

pytestmark = pytest.mark.integration

DAY = date(2026, 6, 2)
# What a re-materialization still reads however little changed: the lists, and Dify's statistics.
FIXED_FLOOR = (
    "/account/profile",
    "/apps",
    "/chat-conversations",
    "/completion-conversations",
    "/workflow-app-logs",
    "/statistics/token-costs",
)


def endpoint(path: str) -> str:
    return next((suffix for suffix in FIXED_FLOOR if path.endswith(suffix)), path.rsplit("/", 1)[-1])


def test_a_second_materialization_of_an_unchanged_day_sends_under_a_tenth_of_the_requests(tmp_path) -> None:
    workspace = generate_workspace(seed=5, start_date=DAY - timedelta(days=1), days=3, scale=3)
    store = DuckDBStore(tmp_path / "m.duckdb")
    start, end = day_window(DAY, DAY, "UTC")
    with DifySimulator(workspace) as simulator:
        settings = settings_for(simulator, store, "UTC")
        first = refresh_raw(settings, store, start, end)
        sent_first = len(simulator.request_log)
        second = refresh_raw(settings, store, start, end)
        again = Counter(endpoint(record.path) for record in simulator.request_log[sent_first:])
    truth = workspace.ground_truth(start, end, "UTC")
    assert_same_events(stored_events(store), truth)
    assert first.read.event_count == second.read.event_count == len(truth)
    assert sum(again.values()) <= sent_first / 10, (sum(again.values()), sent_first)
    assert set(again) <= set(FIXED_FLOOR), again
    first_counts, second_counts = first.read.counts, second.read.counts
    assert (second_counts["runs_read"], second_counts["conversations_read"], second_counts["detail_reads"]) == (0, 0, 0)
    assert (second_counts["runs_from_cache"], second_counts["conversations_from_cache"]) == (
        first_counts["runs_read"],
        first_counts["conversations_read"],
    )


def test_new_traffic_in_a_cached_day_is_read_and_stored(tmp_path) -> None:
    workspace = generate_workspace(seed=5, start_date=DAY - timedelta(days=1), days=3)
    store = DuckDBStore(tmp_path / "m.duckdb")
    start, end = day_window(DAY, DAY, "UTC")
    with DifySimulator(workspace) as simulator:
        settings = settings_for(simulator, store, "UTC")
        refresh_raw(settings, store, start, end)
        cached = DuckDBFetchCache(store).get_conversations(workspace.conversations)
        old = next(c for c in workspace.conversations.values() if c.id in cached and c.mode == "chat")
        late = end - timedelta(minutes=1)
        add_messages(workspace, old.id, [late])
        workflow_app = next(app.id for app in workspace.apps.values() if app.mode == "workflow")
        add_workflow_runs(workspace, workflow_app, [late])
        second = refresh_raw(settings, store, start, end)
    assert_same_events(stored_events(store), workspace.ground_truth(start, end, "UTC"))
    assert (second.read.counts["conversations_read"], second.read.counts["runs_read"]) == (1, 1)


def test_the_duckdb_fetch_cache_gives_back_exactly_what_it_was_given(tmp_path) -> None:
    cache = DuckDBFetchCache(DuckDBStore(tmp_path / "m.duckdb"))
    moment = datetime(2026, 6, 2, 10, 11, 12, tzinfo=UTC)
    llm = NodeUsage("n1", "llm", "langgenius/openai/openai", "gpt-4o", 380, 12, Decimal("0.0001100"), "USD", 392)
    agent = NodeUsage("n2", "agent", None, None, 1500, 420, Decimal("123456789.0123456789"), None, None)
    no_split = NodeUsage("n3", "llm", "x", "y", None, None, None, None, 7)
    run = FinishedRun("app-1", "run-1", "partial-succeeded", (llm, agent, no_split))
    empty_run = FinishedRun("app-1", "run-2", "failed", ())
    priced = MessageUsage("m1", "c1", moment, 120, 40, Decimal("0.0022500"), "RMB", None)
    no_usage = MessageUsage("m2", "c1", moment + timedelta(seconds=1), 7, 0, None, None, "run-9")
    conversation = ConversationMessages("app-1", "c1", moment + timedelta(hours=1), 2, (priced, no_usage))

    cache.put_runs([run, empty_run])
    cache.put_conversations([conversation, ConversationMessages("app-1", "c2", moment, 0, ())])
    assert cache.get_runs(["run-1", "run-2", "run-unknown"]) == {"run-1": run, "run-2": empty_run}
    got = cache.get_conversations(["c1", "c2", "c-unknown"])
    assert got["c1"] == conversation and got["c2"].messages == () and set(got) == {"c1", "c2"}

    newer = ConversationMessages("app-1", "c1", moment + timedelta(hours=2), 1, (priced,))
    cache.put_conversations([newer])  # a re-read replaces the conversation's messages, never adds to them
    cache.put_runs([FinishedRun("app-1", "run-1", "succeeded", (llm,))])
    assert cache.get_conversations(["c1"]) == {"c1": newer}
    assert cache.get_runs(["run-1"])["run-1"].nodes == (llm,)
    assert cache.get_runs([]) == {} and cache.get_conversations([]) == {}
