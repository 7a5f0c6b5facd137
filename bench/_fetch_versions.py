"""Requests per LLM call of one simulated day in each simulated Dify version (`bench/fetch.py --versions`).

In process, against an in-thread simulator: this counts requests, it does not time them. The same workspace
and day in every version; the ground truth is the same, only what Dify answers differs (1.14.1 lists each
conversation's model, so chat and agent-chat details are not read)."""

from __future__ import annotations

import tempfile
from collections.abc import Collection, Sequence
from datetime import datetime
from pathlib import Path

from _fetch_simulator import WorkspaceSpec, benchmark_workspace

from dify_meter.core.event import UsageEvent
from dify_meter.core.store import DuckDBStore
from dify_meter.sandbox.dify.server import DifySimulator
from dify_meter.sandbox.dify.versions import RECORDED_VERSIONS
from dify_meter.sources.console.client import DifyClient
from dify_meter.sources.console.duckdb_detail_cache import DuckDBDetailCache
from dify_meter.sources.console.events import fetch_usage_events


class _CountingSink:
    def __init__(self) -> None:
        self.events = 0

    def write(self, events: Sequence[UsageEvent]) -> None:
        self.events += len(events)

    def drop_apps(self, app_ids: Collection[str]) -> int:
        return 0


def print_requests_per_llm_call(spec: WorkspaceSpec, window: tuple[datetime, datetime], timezone: str) -> None:
    rows = []
    for version in RECORDED_VERSIONS:
        with (
            DifySimulator(benchmark_workspace(spec), dify_version=version) as dify,
            tempfile.TemporaryDirectory(prefix="bench_versions_") as folder,
        ):
            sink = _CountingSink()
            with DifyClient(dify.base_url, api_key=dify.api_key, workspace_id=dify.workspace_id) as client:
                result = fetch_usage_events(
                    client,
                    *window,
                    timezone=timezone,
                    sink=sink,
                    detail_cache=DuckDBDetailCache(DuckDBStore(Path(folder) / "m.duckdb")),
                )
            rows.append((version, sink.events, result.requests, result.detail_reads))
    baseline = rows[0][2] / rows[0][1]
    print(f"{'Dify':<8} {'LLM calls':>9} {'requests':>9} {'details':>8} {'per LLM call':>12} {'vs 1.12.1':>9}")
    for version, events, requests, details in rows:
        per_call = requests / events
        print(
            f"{version:<8} {events:>9,} {requests:>9,} {details:>8,} {per_call:>12.3f} "
            f"{(per_call / baseline - 1) * 100:>+8.1f}%"
        )
