"""Reading the database source into lists, and the console source's events on the same recording."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from dify_meter.core.event import UsageEvent
from dify_meter.sandbox.dify.fixture_workspace import fixture_workspace
from dify_meter.sources.console.client import DifyClient
from dify_meter.sources.database.reader import DatabaseReadResult, read_usage_events
from dify_meter_tests.support.console import NO_WAIT, ScriptedSimulator, fetch_events
from dify_meter_tests.support.fixture_files import SEED_FILE


@dataclass
class DatabaseEventList:
    batches: list[Sequence[UsageEvent]] = field(default_factory=list)

    def write(self, events: Sequence[UsageEvent]) -> None:
        self.batches.append(list(events))

    def drop_window(self, lo: datetime, hi: datetime) -> int:
        held = len(self.events)
        self.batches = [[event for event in batch if not lo <= event.occurred_at < hi] for batch in self.batches]
        return held - len(self.events)

    @property
    def events(self) -> list[UsageEvent]:
        return [event for batch in self.batches for event in batch]

    @property
    def facts(self) -> dict[str, UsageEvent]:
        """By event id: read_from, price_source, invoke_from and triggered_from are the database's facts."""
        return {event.event_id: event for event in self.events}


@dataclass
class DatabaseRead:
    result: DatabaseReadResult
    events: list[UsageEvent]
    facts: dict[str, UsageEvent]


def read_database(
    url: str, workspace_id: str, window: tuple[datetime, datetime], timezone: str, **options: Any
) -> DatabaseRead:
    sink = DatabaseEventList()
    result = read_usage_events(url, workspace_id, *window, timezone=timezone, sink=sink, **options)
    assert result.event_count == len(sink.events)
    return DatabaseRead(result, sink.events, sink.facts)


def console_events(window: tuple[datetime, datetime], timezone: str) -> list[UsageEvent]:
    """The console source's events: the real console client against the simulator serving the recording."""
    with ScriptedSimulator(fixture_workspace(SEED_FILE), api_key="sandbox-key") as simulator:
        simulator.set_now(datetime(2026, 11, 28, 12, tzinfo=UTC))
        with DifyClient(
            simulator.base_url, api_key="sandbox-key", workspace_id=simulator.workspace_id, timeout=5, retry=NO_WAIT
        ) as client:
            return fetch_events(client, *window, timezone=timezone).events
