"""The port between a source of Dify usage and the pipeline: read a window of time into a sink, and say
what was read. `sources/console/` implements it over Dify's console API; a database source the same way."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from dify_meter.core.event import UsageEvent
from dify_meter.core.skipped_app import SkippedApp


class EventSink(Protocol):
    def write(self, events: Sequence[UsageEvent]) -> None:
        """Take one batch of events."""

    def drop_apps(self, app_ids: Collection[str]) -> int:
        """Forget the events of these apps handed over so far (the app vanished mid-fetch); how many."""

    def drop_window(self, lo: datetime, hi: datetime) -> int:
        """Forget the events handed over so far that occurred in [lo, hi) (the source reads that time again);
        how many."""


@dataclass(frozen=True, slots=True)
class DifyAppTotals:
    """Dify's own totals of one app over a window, to compare the extraction against."""

    app_id: str
    app_name: str
    app_mode: str
    tokens: int
    price: Decimal  # summed over currencies: Dify's statistics do not keep them apart


@dataclass(frozen=True)
class SourceReport:
    """What one read of a window found, besides the events it handed to the sink."""

    event_count: int
    apps_read: int
    dify_totals: list[DifyAppTotals]
    skipped_apps: list[SkippedApp] = field(default_factory=list)  # each with why: the checks name them
    warnings: list[str] = field(default_factory=list)
    dify_version: str | None = None
    # The source's own counters (requests, detail reads, cache hits...), named as shown in run metadata.
    counts: Mapping[str, int] = field(default_factory=dict)

    @property
    def skipped_app_ids(self) -> frozenset[str]:
        return frozenset(app.app_id for app in self.skipped_apps)


class UsageSource(Protocol):
    def read_window(self, window_start: datetime, window_end: datetime, sink: EventSink) -> SourceReport:
        """Hand `sink` every usage event whose time lies in [window_start, window_end); raise if the read
        failed (the sink's events are then discarded by the caller)."""
