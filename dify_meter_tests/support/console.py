"""Helpers of the extraction tests: caches and an event sink in memory, a fetch into a list, a readable diff of
event sets, a scriptable simulator."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from dify_meter.core.event import EVENT_COLUMNS, UsageEvent
from dify_meter.core.retry import DIFY_CONSOLE_RETRY
from dify_meter.sandbox.dify.server import DifySimulator
from dify_meter.sandbox.dify.workspace import Workspace
from dify_meter.sources.console.caches import ConversationMessages, FinishedRun
from dify_meter.sources.console.client import DifyClient
from dify_meter.sources.console.details import ConversationDetail
from dify_meter.sources.console.events import FetchResult, fetch_usage_events

# The client's retries without their sleeps: tests see every retry and wait for none.
NO_WAIT = dataclasses.replace(DIFY_CONSOLE_RETRY, sleep=lambda seconds: None)


class MemoryDetailCache:
    """The `DetailCache` protocol in a dict; remembers every `put_details` batch."""

    def __init__(self) -> None:
        self.details: dict[str, ConversationDetail] = {}
        self.batches: list[list[str]] = []

    def get_details(self, conversation_ids: Iterable[str]) -> dict[str, ConversationDetail]:
        return {cid: self.details[cid] for cid in conversation_ids if cid in self.details}

    def put_details(self, details: Sequence[ConversationDetail]) -> None:
        self.batches.append([detail.conversation_id for detail in details])
        for detail in details:
            self.details[detail.conversation_id] = detail


class MemoryFetchCache:
    """The `FetchCache` protocol in dicts; counts the runs and conversations put."""

    def __init__(self) -> None:
        self.runs: dict[str, FinishedRun] = {}
        self.conversations: dict[str, ConversationMessages] = {}

    def get_runs(self, workflow_run_ids: Iterable[str]) -> dict[str, FinishedRun]:
        return {run_id: self.runs[run_id] for run_id in workflow_run_ids if run_id in self.runs}

    def put_runs(self, runs: Sequence[FinishedRun]) -> None:
        self.runs.update((run.workflow_run_id, run) for run in runs)

    def get_conversations(self, conversation_ids: Iterable[str]) -> dict[str, ConversationMessages]:
        return {cid: self.conversations[cid] for cid in conversation_ids if cid in self.conversations}

    def put_conversations(self, conversations: Sequence[ConversationMessages]) -> None:
        self.conversations.update((conversation.conversation_id, conversation) for conversation in conversations)


class EventList:
    """The `EventSink` protocol in a list; remembers the size of every batch."""

    def __init__(self) -> None:
        self.events: list[UsageEvent] = []
        self.batch_sizes: list[int] = []

    def write(self, events: Sequence[UsageEvent]) -> None:
        self.batch_sizes.append(len(events))
        self.events.extend(events)

    def drop_apps(self, app_ids: Collection[str]) -> int:
        kept = [event for event in self.events if event.app_id not in app_ids]
        dropped, self.events = len(self.events) - len(kept), kept
        return dropped

    def drop_window(self, lo: datetime, hi: datetime) -> int:
        kept = [event for event in self.events if not lo <= event.occurred_at < hi]
        dropped, self.events = len(self.events) - len(kept), kept
        return dropped


@dataclasses.dataclass(slots=True)
class FetchedEvents(FetchResult):
    """A FetchResult and the events the fetch handed to its sink (production never holds them all)."""

    events: list[UsageEvent] = dataclasses.field(default_factory=list)


def fetch_events(client: DifyClient, window_start: datetime, window_end: datetime, **options: Any) -> FetchedEvents:
    """`fetch_usage_events` into an `EventList` (with a fresh MemoryDetailCache unless `detail_cache` is given)."""
    sink = EventList()
    options.setdefault("detail_cache", MemoryDetailCache())
    result = fetch_usage_events(client, window_start, window_end, sink=sink, **options)
    assert result.event_count == len(sink.events)
    fields = {field.name: getattr(result, field.name) for field in dataclasses.fields(result)}
    return FetchedEvents(**fields, events=sink.events)


def event_diff(actual: Iterable[UsageEvent], expected: Iterable[UsageEvent]) -> str:
    """'' when both hold the same events; else which ids are missing, extra, or differ and in what."""
    got = {event.event_id: event for event in actual}
    want = {event.event_id: event for event in expected}
    lines = []
    for event_id in sorted(want.keys() - got.keys()):
        lines.append(f"missing {_short(want[event_id])}")
    for event_id in sorted(got.keys() - want.keys()):
        lines.append(f"extra   {_short(got[event_id])}")
    for event_id in sorted(got.keys() & want.keys()):
        if got[event_id] != want[event_id]:
            changes = [
                f"{column}: got {a!r}, want {b!r}"
                for column, a, b in zip(EVENT_COLUMNS, got[event_id].as_row(), want[event_id].as_row(), strict=True)
                if a != b
            ]
            lines.append(f"differs {event_id}: " + "; ".join(changes))
    return "\n".join(lines)


def _short(event: UsageEvent) -> str:
    return (
        f"{event.event_id} {event.app_mode} {event.app_name!r} {event.occurred_at.isoformat()} "
        f"{event.provider_raw}/{event.model_raw} {event.input_tokens}+{event.output_tokens} "
        f"{event.cost} {event.currency}"
    )


def assert_same_events(actual: Sequence[UsageEvent], expected: Sequence[UsageEvent]) -> None:
    assert len({event.event_id for event in actual}) == len(actual), "duplicate event ids in the extraction"
    diff = event_diff(actual, expected)
    assert not diff, f"{len(actual)} extracted vs {len(expected)} in the ground truth:\n{diff}"
    assert set(actual) == set(expected)


class ScriptedSimulator(DifySimulator):
    """The Dify simulator plus test scripts: `fail` may answer a request instead of Dify (the request is
    logged but not served), `after` runs once a request was served (to change the workspace mid-scan)."""

    def __init__(self, workspace: Workspace, **kwargs: Any) -> None:
        super().__init__(workspace, **kwargs)
        self.fail: Callable[[str, str, dict[str, str]], tuple[int, Any] | None] = lambda *_: None
        self.after: Callable[[str, str, dict[str, str]], None] = lambda *_: None

    def __enter__(self) -> ScriptedSimulator:
        self.start()
        return self

    def respond(self, method: str, path: str, args: dict[str, str], headers: Mapping[str, str]) -> tuple[int, Any]:
        failure = self.fail(method, path, args)
        if failure is not None:
            with self._log_lock:
                self.request_log.append((method, path, dict(args)))
            return failure
        answer = super().respond(method, path, args, headers)
        with self.workspace.lock:
            self.after(method, path, args)
        return answer
