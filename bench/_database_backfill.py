"""The 30-day backfill through Dagster: `dagster asset materialize` of raw_usage_events and the aggregates over
30 daily partitions, which their single-run backfill policy makes one run, with DIFY_SOURCE=database against
the cached 30 x 102,876-call database, in a fresh DAGSTER_HOME (the packaged dagster.yaml) and DuckDB file."""

from __future__ import annotations

import os
import re
import sys
from datetime import timedelta
from pathlib import Path

import duckdb
from _common import REPO_ROOT, run_timed
from _database_workload import CachedPostgres, Workload, build
from fetch import DAY, TIMEZONE

TARGET_SECONDS = 60.0
SELECTION = "group:dify or group:usage"  # raw_usage_events and the aggregates, not the delivery to API_Meter
STEPS_FINISHED = re.compile(r"Finished steps in process \(pid: \d+\) in ([\d.]+)(ms|s)\b")
STEP_SUCCESS = re.compile(r"STEP_SUCCESS - Finished execution of step \"([\w.]+)\" in ([\d.]+)(ms|s)")


def measure_backfill(server: CachedPostgres, workload: Workload, folder: Path) -> None:
    built = build(server, workload)
    if built.build_seconds:
        print(f"built {workload.database} in {built.build_seconds:.0f} s", file=sys.stderr)
    dagster_home = folder / "dagster_home"
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").write_text((REPO_ROOT / "dify_meter/defs/templates/dagster.yaml").read_text())
    db = folder / "backfill.duckdb"
    last = DAY + timedelta(days=workload.days - 1)
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO_ROOT),
        "DAGSTER_HOME": str(dagster_home),
        "DIFY_SOURCE": "database",
        "DIFY_DATABASE_URL": built.url,
        "DIFY_WORKSPACE_ID": built.workspace_id,
        "DIFY_TIMEZONE": TIMEZONE,
        "DIFY_PARTITIONS_START": (DAY - timedelta(days=1)).isoformat(),
        "DIFY_METER_DUCKDB": str(db),
    }
    command = [sys.executable, "-m", "dagster", "asset", "materialize", "--select", SELECTION]
    command += ["--partition-range", f"{DAY}...{last}", "-m", "dify_meter.definitions"]
    print("load average before: " + " / ".join(Path("/proc/loadavg").read_text().split()[:3]))
    wall, output = run_timed(command, env=env)
    print("load average after: " + " / ".join(Path("/proc/loadavg").read_text().split()[:3]))
    steps = STEPS_FINISHED.search(output)
    if "RUN_SUCCESS" not in output or steps is None:
        raise SystemExit("dagster asset materialize did not report a successful run:\n" + output[-3000:])
    with duckdb.connect(str(db), read_only=True) as conn:
        row = conn.execute(
            "SELECT count(*), count(DISTINCT usage_date) FROM raw_usage_events WHERE usage_date BETWEEN ? AND ?",
            [DAY, last],
        ).fetchone()
    assert row is not None
    expected = built.calls_per_day * workload.days
    if row[0] != expected or row[1] != workload.days:
        raise SystemExit(f"DuckDB holds {row[0]} events on {row[1]} days; expected {expected} on {workload.days}")
    runs = output.count("RUN_START")
    step_seconds = float(steps.group(1)) / (1000 if steps.group(2) == "ms" else 1)
    print(f"{workload.days} days x {built.calls_per_day:,} LLM calls = {expected:,} events, {DAY}..{last} ({TIMEZONE})")
    for step, seconds, unit in STEP_SUCCESS.findall(output):
        print(f"  step {step}: {float(seconds) / (1000 if unit == 'ms' else 1):.1f} s")
    print(
        f"one Dagster run ({runs} RUN_START): {wall:.1f} s wall for the whole `dagster asset materialize`, "
        f"{step_seconds:.1f} s in its steps"
        + (
            f" (target < {TARGET_SECONDS:g} s: {'met' if wall < TARGET_SECONDS else 'NOT met'})"
            if (workload.days, workload.copies) == (30, 6)
            else " (a smoke run: the target is for 30 days x 6 copies)"
        )
    )
