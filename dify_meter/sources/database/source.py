"""Dify's PostgreSQL as a `UsageSource` (core.source): the reader's events, and Dify's own per-app totals from
the console's statistics when DIFY_API_URL is set, otherwise from the statistics SQL Dify itself runs."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from dify_meter.core.source import DifyAppTotals, EventSink, SourceReport
from dify_meter.sources.database.reader import DatabaseReadResult, read_usage_events
from dify_meter.sources.database.sessions import DatabaseTarget
from dify_meter.sources.database.statistics import read_dify_totals

# Dify's per-app statistics over [window_start, window_end), read some other way (the console's, by the wiring).
TotalsReader = Callable[[datetime, datetime], list[DifyAppTotals]]


class DatabaseSource:
    """`console_totals`, when given, reads Dify's statistics for `dify_numbers` instead of the database's SQL."""

    def __init__(
        self,
        target: DatabaseTarget,
        workspace_id: str,
        *,
        timezone: str,
        console_totals: TotalsReader | None = None,
    ) -> None:
        self.target = target
        self.workspace_id = workspace_id
        self.timezone = timezone
        self.console_totals = console_totals

    def read_window(self, window_start: datetime, window_end: datetime, sink: EventSink) -> SourceReport:
        read = read_usage_events(
            self.target.url,
            self.workspace_id,
            window_start,
            window_end,
            timezone=self.timezone,
            sink=sink,
            statement_timeout_seconds=self.target.statement_timeout_seconds,
            lock_timeout_seconds=self.target.lock_timeout_seconds,
            connect_timeout_seconds=self.target.connect_timeout_seconds,
        )
        if self.console_totals is not None:
            dify_totals = self.console_totals(window_start, window_end)
        else:
            dify_totals = read_dify_totals(
                self.target, self.workspace_id, window_start, window_end, timezone=self.timezone
            )
        return _report(read, dify_totals)


def _report(read: DatabaseReadResult, dify_totals: list[DifyAppTotals]) -> SourceReport:
    return SourceReport(
        event_count=read.event_count,
        apps_read=read.apps_read,
        dify_totals=dify_totals,
        skipped_apps=list(read.skipped_apps),
        warnings=list(read.warnings),
        counts={
            "database_queries": read.queries,
            "days_read": read.days_read,
            "skipped_apps": len(read.skipped_apps),
        },
    )
