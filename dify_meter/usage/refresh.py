"""Fetch → store: read a window of days from Dify and replace those days in raw_usage_events.

Plain Python shared by the Dagster asset and the CLI. The whole window is read from Dify once (one
read for a multi-day range), its events staged in DuckDB batch by batch as they come; the table is
touched only after the fetch succeeded, in one transaction, so a failure part-way leaves every
previous row untouched. What earlier fetches cached (conversation details, ended runs, unchanged
conversations' messages) is not read from Dify again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import duckdb

from dify_meter.core.store import DuckDBStore, StoreError
from dify_meter.settings import Settings
from dify_meter.sources.console.client import DifyClient
from dify_meter.sources.console.duckdb_detail_cache import DuckDBDetailCache
from dify_meter.sources.console.duckdb_fetch_cache import DuckDBFetchCache
from dify_meter.sources.console.events import FetchResult, fetch_usage_events
from dify_meter.sources.console.statistics import DifyAppTotals, fetch_dify_totals
from dify_meter.usage.raw_events import RawSummary, StagedWindow, summarize_window


@dataclass(frozen=True)
class RawRefresh:
    first_day: date
    last_day: date
    fetch: FetchResult
    summary: RawSummary
    dify_totals: list[DifyAppTotals]  # Dify's own statistics of the window, for the comparison check

    @property
    def skipped_app_ids(self) -> set[str]:
        return {app.app_id for app in self.fetch.skipped_apps}


def window_days(window_start: datetime, window_end: datetime, settings: Settings) -> tuple[date, date]:
    """The first and last calendar day (in DIFY_TIMEZONE) of a [start, end) window of whole days."""
    tz = settings.timezone
    return window_start.astimezone(tz).date(), (window_end.astimezone(tz) - timedelta(microseconds=1)).date()


def open_dify_client(settings: Settings) -> DifyClient:
    """The admin-key client when DIFY_API_KEY is set, else the DIFY_EMAIL/DIFY_PASSWORD one."""
    return DifyClient.from_settings(settings)


def refresh_raw_usage(
    settings: Settings, store: DuckDBStore, window_start: datetime, window_end: datetime
) -> RawRefresh:
    first_day, last_day = window_days(window_start, window_end, settings)
    with open_dify_client(settings) as client:
        staged = StagedWindow.begin(store, first_day, last_day)
        try:
            fetched = fetch_usage_events(
                client,
                window_start,
                window_end,
                timezone=settings.dify_timezone,
                detail_cache=DuckDBDetailCache(store),
                fetch_cache=DuckDBFetchCache(store),
                sink=staged,
                detail_reads=settings.dify_detail_reads,
                max_run_seconds=settings.dify_max_run_seconds,
            )
            dify_totals = fetch_dify_totals(client, window_start, window_end)
            staged.commit()
        except BaseException as error:
            _discard(staged, error)
            raise
    with store.connect() as conn:
        summary = summarize_window(conn, first_day, last_day)
    return RawRefresh(first_day, last_day, fetched, summary, dify_totals)


def _discard(staged: StagedWindow, error: BaseException) -> None:
    """Drop a failed fetch's staged events; if even that fails, the error says so (a later fetch deletes
    them once stale, and never moves them)."""
    try:
        staged.discard()
    except (StoreError, duckdb.Error) as exc:
        error.add_note(f"its staged events (fetch {staged.fetch_id}) could not be dropped: {exc}")
