"""Hand a fetch's usage events to an `EventSink` (core.source) in batches, so no fetch holds them all.

The DuckDB implementation (`dify_meter.usage.raw_events.StagedWindow`) writes each batch to a staging
table and swaps the window in at the end; tests collect them in a list.
"""

from __future__ import annotations

from collections.abc import Iterable

from dify_meter.core.event import UsageEvent
from dify_meter.core.source import EventSink


class EventBatcher:
    """Collects events and hands them to the sink `batch_size` at a time."""

    def __init__(self, sink: EventSink, batch_size: int) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.sink = sink
        self.batch_size = batch_size
        self.handed_over = 0
        self._pending: list[UsageEvent] = []

    def add(self, events: Iterable[UsageEvent]) -> None:
        self._pending.extend(events)
        while len(self._pending) >= self.batch_size:
            batch, self._pending = self._pending[: self.batch_size], self._pending[self.batch_size :]
            self._hand_over(batch)

    def flush(self) -> None:
        if self._pending:
            batch, self._pending = self._pending, []
            self._hand_over(batch)

    def _hand_over(self, batch: list[UsageEvent]) -> None:
        self.sink.write(batch)
        self.handed_over += len(batch)
