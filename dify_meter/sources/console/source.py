"""The console API as a `UsageSource` (core.source): events from Dify's console lists and details, with
the DuckDB caches that spare re-reading what cannot have changed, and Dify's own per-app totals."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from dify_meter.core.source import DifyAppTotals, EventSink, SourceReport
from dify_meter.core.store import DuckDBStore
from dify_meter.sources.console.client import DifyClient
from dify_meter.sources.console.duckdb_detail_cache import DuckDBDetailCache
from dify_meter.sources.console.duckdb_fetch_cache import DuckDBFetchCache
from dify_meter.sources.console.events import DetailReads, FetchResult, fetch_usage_events
from dify_meter.sources.console.statistics import fetch_dify_totals


class ConsoleSource:
    """`open_client` makes a new client per read (closed after it); `store` holds the caches."""

    def __init__(
        self,
        open_client: Callable[[], DifyClient],
        store: DuckDBStore,
        *,
        timezone: str,
        detail_reads: DetailReads = "auto",
        max_run_seconds: int = 3600,
    ) -> None:
        self.open_client = open_client
        self.store = store
        self.timezone = timezone
        self.detail_reads: DetailReads = detail_reads
        self.max_run_seconds = max_run_seconds

    def read_window(self, window_start: datetime, window_end: datetime, sink: EventSink) -> SourceReport:
        with self.open_client() as client:
            fetched = fetch_usage_events(
                client,
                window_start,
                window_end,
                timezone=self.timezone,
                detail_cache=DuckDBDetailCache(self.store),
                fetch_cache=DuckDBFetchCache(self.store),
                sink=sink,
                detail_reads=self.detail_reads,
                max_run_seconds=self.max_run_seconds,
            )
            dify_totals = fetch_dify_totals(client, window_start, window_end)
        return _report(fetched, dify_totals)


def _report(fetched: FetchResult, dify_totals: list[DifyAppTotals]) -> SourceReport:
    return SourceReport(
        event_count=fetched.event_count,
        apps_read=fetched.apps_read,
        dify_totals=dify_totals,
        skipped_apps=list(fetched.skipped_apps),
        warnings=list(fetched.warnings),
        dify_version=fetched.dify_version,
        counts={
            "dify_requests": fetched.requests,
            "detail_reads": fetched.detail_reads,
            "dify_retries": fetched.retries,
            "lowest_concurrency": fetched.lowest_concurrency,
            "conversations_read": fetched.conversations_read,
            "conversations_from_cache": fetched.conversations_cached,
            "runs_read": fetched.runs_read,
            "runs_from_cache": fetched.runs_cached,
            "skipped_apps": len(fetched.skipped_apps),
        },
    )
