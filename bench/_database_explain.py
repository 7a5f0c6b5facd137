"""`EXPLAIN (ANALYZE, BUFFERS)` of each of the reader's queries for the 1M-call day, on one Dify version's schema:
the median of `repeat` executions (warm cache), and the plan of the median one written to PLANS."""

from __future__ import annotations

import re
import statistics
from pathlib import Path

import psycopg
from _database_workload import CachedPostgres, Workload, build
from fetch import DAY, window

from dify_meter.sources.database.queries import query

PLANS = Path("/tmp/dify_meter_bench/plans")
EXECUTION_TIME = re.compile(r"Execution Time: ([\d.]+) ms")
BUFFERS = re.compile(r"Buffers: (.*)")
SCAN = re.compile(
    r"(Parallel )?(Seq Scan|Index Scan|Index Only Scan|Bitmap Heap Scan|Bitmap Index Scan)( using (\w+))? on (\w+)"
)


def explain(server: CachedPostgres, version: str, repeat: int) -> None:
    from database import day_statements  # the reader's statements of a day, as the benchmark runs them

    built = build(server, Workload(version=version, days=1, copies=59))
    lo, hi = window(DAY)
    connections = day_statements(built.url, built.workspace_id, lo, hi)
    statements = [("apps", {"tenant_id": built.workspace_id})] + [s for c in connections for s in c]
    PLANS.mkdir(parents=True, exist_ok=True)
    print(f"Dify {version} schema, {built.calls_per_day:,} LLM calls on {DAY}; load before " + _load())
    rows = []
    with psycopg.connect(built.url) as connection:
        server_version = connection.execute("SHOW server_version").fetchone()
        for name, params in statements:
            label = name if "part" not in params else f"{name} (half {params['part']})"
            runs = []
            for _ in range(repeat):
                lines = connection.execute("EXPLAIN (ANALYZE, BUFFERS) " + query(name), params).fetchall()
                text = "\n".join(line[0] for line in lines)
                match = EXECUTION_TIME.search(text)
                assert match is not None
                runs.append((float(match.group(1)), text))
            runs.sort(key=lambda run: run[0])
            ms, text = runs[len(runs) // 2]
            (PLANS / f"{version}-{label.replace(' ', '_').replace('(', '').replace(')', '')}.txt").write_text(text)
            buffers = BUFFERS.search(text)
            scans = sorted({f"{m.group(1) or ''}{m.group(2)} {m.group(4) or m.group(5)}" for m in SCAN.finditer(text)})
            rows.append(
                (
                    label,
                    f"{statistics.median(run[0] for run in runs) / 1000:.2f}",
                    " / ".join(f"{run[0] / 1000:.2f}" for run in runs),
                    buffers.group(1) if buffers else "",
                    ", ".join(scans),
                )
            )
    print(f"PostgreSQL {server_version[0] if server_version else '?'}; load after {_load()}; plans in {PLANS}")
    print("| query | median s | runs s | buffers (top node) | scans |")
    print("|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


def _load() -> str:
    return " / ".join(Path("/proc/loadavg").read_text().split()[:3])
