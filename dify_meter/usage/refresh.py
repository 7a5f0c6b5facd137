"""Fetch → store: read a window of days from a usage source and replace those days in raw_usage_events.

Plain Python shared by the Dagster asset and the CLI. The whole window is read from the source once (one
read for a multi-day range), its events staged in DuckDB batch by batch as they come; the table is
touched only after the read succeeded, in one transaction, so a failure part-way leaves every
previous row untouched. What earlier reads cached (conversation details, ended runs, unchanged
conversations' messages) is the source's business: the console source keeps it in the same store.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import duckdb

from dify_meter.core.source import DifyAppTotals, SourceReport, UsageSource
from dify_meter.core.store import DuckDBStore, StoreError
from dify_meter.usage.raw_events import RawSummary, StagedWindow, summarize_window


@dataclass(frozen=True)
class RawRefresh:
    first_day: date
    last_day: date
    read: SourceReport
    summary: RawSummary

    @property
    def dify_totals(self) -> list[DifyAppTotals]:
        """Dify's own statistics of the window, for the comparison check."""
        return self.read.dify_totals

    @property
    def skipped_app_ids(self) -> frozenset[str]:
        return self.read.skipped_app_ids


def window_days(window_start: datetime, window_end: datetime, timezone: ZoneInfo) -> tuple[date, date]:
    """The first and last calendar day (in `timezone`, DIFY_TIMEZONE) of a [start, end) window of whole days."""
    last_instant = window_end.astimezone(timezone) - timedelta(microseconds=1)
    return window_start.astimezone(timezone).date(), last_instant.date()


def refresh_raw_usage(
    source: UsageSource, store: DuckDBStore, window_start: datetime, window_end: datetime, timezone: ZoneInfo
) -> RawRefresh:
    first_day, last_day = window_days(window_start, window_end, timezone)
    staged = StagedWindow.begin(store, first_day, last_day)
    try:
        read = source.read_window(window_start, window_end, staged)
        staged.commit()
    except BaseException as error:
        _discard(staged, error)
        raise
    with store.connect() as conn:
        summary = summarize_window(conn, first_day, last_day)
    return RawRefresh(first_day, last_day, read, summary)


def _discard(staged: StagedWindow, error: BaseException) -> None:
    """Drop a failed read's staged events; if even that fails, the error says so (a later read deletes
    them once stale, and never moves them)."""
    try:
        staged.discard()
    except (StoreError, duckdb.Error) as exc:
        error.add_note(f"its staged events (fetch {staged.fetch_id}) could not be dropped: {exc}")
