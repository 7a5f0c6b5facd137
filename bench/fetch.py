"""Fetch benchmark (issue 7): one large simulated day read from the Dify simulator and written to DuckDB
through `refresh_raw_usage`, at concurrency 1 and 8, against a remote Dify and a busy one.

    python bench/fetch.py [--scale 4] [--repeat 3] [--no-dagster]
    python bench/fetch.py --versions [--scale 4]   # requests per LLM call in each simulated Dify version

`--scale 26` is the issue's size (>= 20 apps, >= 2,000 workflow runs and >= 5,000 messages on the day;
~14 min); the default, 4, keeps `make bench` short (~2.7 min) with the same apps and mix.

Every run gets a fresh simulator process (bench/_fetch_simulator.py: the generated workspaces of two
seeds merged, 32 apps) and a fresh DuckDB file, and materializes the day in a fresh process, as a
launched run does: `refresh_raw_usage` (the fetch, Dify's statistics for the comparison check, the
DuckDB write). Profiles of the simulator:
- remote: every answer waits 25 ms, any number at once. Targets at concurrency 8 (run `--repeat`
  times, the median judged): >= 6x faster than at 1, and within 1.5x of the lower bound requests x
  25 ms / 8;
- busy: one request at a time, 30 ms each. Targets: concurrency 8 no slower than 1, within 1.1x of
  requests x 30 ms, no 429/5xx;
- pushback: remote, plus a stretch of 429 and 503 answers: the lowest concurrency the client fell to,
  and how long it took to get back to 8 requests in flight.
Then the same day again on the first remote run's DuckDB and simulator (the incremental re-run,
target <= 10% of the first run's requests), the requests per kind next to the minimum the semantics
need, where the time goes (requests in flight, answer times, DuckDB connections per caller), and once
through `dagster asset materialize` of raw_usage_events.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import re
import shutil
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from dify_meter.defs.resources import build_resources
from dify_meter.settings import load_settings
from dify_meter.usage.refresh import refresh_raw_usage

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    REPO_ROOT,
    format_table,
    machine_description,
    peak_rss_mib,
    report_result,
    run_child,
    run_timed,
)
from _fetch_requests import KINDS, minimum_requests, request_kind  # noqa: E402
from _fetch_simulator import (  # noqa: E402
    ServedStats,
    SimulatorProcess,
    WorkspaceSpec,
    benchmark_workspace,
    serve_child,
)
from _fetch_timeline import (  # noqa: E402
    PUSHBACK,
    by_kind,
    mean_in_flight,
    recovery_seconds,
    seconds_by_in_flight,
    timeline,
)
from _fetch_versions import print_requests_per_llm_call  # noqa: E402
from _timed_store import TimedStore  # noqa: E402

SCRIPT = Path(__file__).resolve()
START_DATE = date(2025, 12, 3)
DAY = date(2025, 12, 4)  # the second generated day: the first one's conversations carry over into it
GENERATED_DAYS = 2
TIMEZONE = "America/New_York"  # the owner's, and DIFY_TIMEZONE: the generated days are whole days
DEFAULT_SCALE = 4.0
DEFAULT_CONCURRENCY = 8
MAX_RUN_SECONDS = 3600  # DIFY_MAX_RUN_SECONDS's default

REMOTE_LATENCY_MS = 25.0
BUSY_LATENCY_MS = 30.0
# A stretch of pushback early in the fetch, then none, so that the recovery shows: once 15% of the
# requests went through, 429s (Retry-After: 1) and 503s, each on 5% of the requests, 1% of the requests
# of each kind in all (so the stretch lasts about a fifth of the fetch).
PUSHBACK_AFTER, PUSHBACK_SHARE, PUSHBACK_COUNT = 0.15, 0.05, 0.01

TARGET_SPEEDUP = 6.0
TARGET_REMOTE_RATIO = 1.5
TARGET_BUSY_RATIO = 1.1
TARGET_RERUN_SHARE = 0.10
TARGET_APPS, TARGET_RUNS, TARGET_MESSAGES = 20, 2_000, 5_000


@dataclass(frozen=True)
class Profile:
    name: str
    latency_ms: float
    max_parallel: int | None = None
    faults: tuple[str, ...] = ()

    def lower_bound(self, requests: int, concurrency: int) -> float:
        """Seconds no client can beat: every answer waits latency_ms; at most this many at once."""
        at_once = min(concurrency, self.max_parallel or concurrency)
        return requests * self.latency_ms / 1000 / at_once


REMOTE = Profile("remote", REMOTE_LATENCY_MS)
BUSY = Profile("busy", BUSY_LATENCY_MS, max_parallel=1)


def pushback_profile(expected_requests: int) -> Profile:
    """The remote profile with a stretch of 429 and 503 answers, sized to the fetch's requests."""
    after, count = round(PUSHBACK_AFTER * expected_requests), max(3, round(PUSHBACK_COUNT * expected_requests))
    common = f"share={PUSHBACK_SHARE}:next={count}:after={after}"
    return Profile("pushback", REMOTE_LATENCY_MS, faults=(f"429:{common}:seed=1:retry_after=1", f"503:{common}:seed=2"))


@dataclass
class Run:
    profile: Profile
    concurrency: int
    label: str
    result: dict[str, Any]
    stats: ServedStats

    @property
    def wall(self) -> float:
        return self.result["ended"] - self.result["began"]

    @property
    def requests(self) -> int:
        """Every request the simulator answered during the run: the fetch and the statistics."""
        return len(self.stats.served)

    @property
    def bound(self) -> float:
        return self.profile.lower_bound(self.requests, self.concurrency)

    def by_kind(self) -> Counter[str]:
        return Counter(request_kind(request.path) for request in self.stats.served)

    def pushbacks(self) -> int:
        return sum(1 for request in self.stats.served if request.status in PUSHBACK)

    def server_errors(self) -> int:
        return sum(1 for request in self.stats.served if (request.status or 0) >= 500 or request.status == 429)


@dataclass
class Day:
    """What the measured day holds, from the benchmark's own copy of the workspace."""

    summary: str
    apps: Counter[str]
    messages: Counter[str]
    runs: Counter[str]
    events: int
    total_tokens: int
    minimum: Counter[str] = field(default_factory=Counter)


# --- children -----------------------------------------------------------------------------------------


def window(day: date) -> tuple[datetime, datetime]:
    zone = ZoneInfo(TIMEZONE)
    return (
        datetime.combine(day, datetime.min.time(), tzinfo=zone),
        datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=zone),
    )


def child_fetch(url: str, api_key: str, workspace_id: str, db: Path, concurrency: int) -> None:
    """Materialize DAY the way the raw_usage_events asset does, without Dagster."""
    # Retries are counted, not printed.
    logging.getLogger("dify_meter.sources.console.transport").setLevel(logging.ERROR)
    settings = load_settings(
        dify_api_url=url,
        dify_api_key=api_key,
        dify_workspace_id=workspace_id,
        dify_timezone=TIMEZONE,
        dify_max_concurrency=concurrency,
        dify_meter_duckdb=str(db),
        dify_max_run_seconds=MAX_RUN_SECONDS,
        dify_detail_reads="auto",
    )
    start, end = window(DAY)
    store = TimedStore(db)
    cpu = time.process_time()
    began = time.monotonic()
    source = build_resources(settings, secrets_from_env=False).dify.usage_source(store)
    refresh = refresh_raw_usage(source, store, start, end, settings.timezone)
    ended = time.monotonic()
    read, counts = refresh.read, refresh.read.counts
    report_result(
        {
            "began": began,
            "ended": ended,
            "cpu_seconds": time.process_time() - cpu,
            "fetch_requests": counts["dify_requests"],
            "retries": counts["dify_retries"],
            "lowest_concurrency": counts["lowest_concurrency"],
            "detail_reads": counts["detail_reads"],
            "apps_read": read.apps_read,
            "skipped_apps": len(read.skipped_apps),
            "warnings": len(read.warnings),
            "events": refresh.summary.events,
            "conversations_read": counts["conversations_read"],
            "conversations_cached": counts["conversations_from_cache"],
            "runs_read": counts["runs_read"],
            "runs_cached": counts["runs_from_cache"],
            "total_tokens": refresh.summary.total_tokens,
            "peak_rss_mib": peak_rss_mib(),
            "duckdb": {caller: [t.connections, t.opening, t.using, t.closing] for caller, t in store.by_caller.items()},
        }
    )


# --- measuring ----------------------------------------------------------------------------------------


def describe_day(spec: WorkspaceSpec) -> Day:
    ws = benchmark_workspace(spec)
    start, end = window(DAY)
    in_day = [m for m in ws.messages.values() if start <= m.created_at < end]
    runs = [r for r in ws.workflow_runs.values() if start <= r.created_at < end]
    truth = ws.ground_truth(start, end, TIMEZONE)
    return Day(
        ws.summary(),
        Counter(app.mode for app in ws.apps.values()),
        Counter(ws.apps[m.app_id].mode for m in in_day),
        Counter(ws.apps[r.app_id].mode for r in runs),
        len(truth),
        sum(event.total_tokens for event in truth),
        minimum_requests(ws, start, end, MAX_RUN_SECONDS),
    )


def fetch_once(simulator: SimulatorProcess, db: Path, profile: Profile, concurrency: int, label: str) -> Run:
    simulator.stats()  # forget what was served before
    result = run_child(
        [
            str(SCRIPT),
            "--child",
            "fetch",
            "--url",
            simulator.base_url,
            "--api-key",
            simulator.api_key,
            "--workspace-id",
            simulator.workspace_id,
            "--db",
            str(db),
            "--concurrency",
            str(concurrency),
        ]
    )
    return Run(profile, concurrency, label, result, simulator.stats())


def measure(
    spec: WorkspaceSpec,
    profile: Profile,
    concurrency: int,
    folder: Path,
    *,
    rerun: bool = False,
    name: str | None = None,
) -> list[Run]:
    """A fresh simulator and DuckDB file; the day once, and with `rerun` a second time on both."""
    db = folder / f"{name or f'{profile.name}_{concurrency}'}.duckdb"
    print(f"  {profile.name}, concurrency {concurrency} ...", file=sys.stderr, flush=True)
    with SimulatorProcess(
        SCRIPT, spec, latency_ms=profile.latency_ms, max_parallel=profile.max_parallel, faults=profile.faults
    ) as simulator:
        runs = [fetch_once(simulator, db, profile, concurrency, "first")]
        if rerun:
            runs.append(fetch_once(simulator, db, profile, concurrency, "re-run, nothing changed"))
    return runs


STEPS_FINISHED = re.compile(r"Finished steps in process \(pid: \d+\) in ([\d.]+)(ms|s)\b")
DIFY_REQUESTS = re.compile(r"(\d+) Dify requests")


def measure_dagster(spec: WorkspaceSpec, folder: Path) -> dict[str, Any]:
    """`dagster asset materialize` of raw_usage_events (and its two checks) for DAY, remote profile."""
    dagster_home = folder / "dagster_home"
    dagster_home.mkdir()
    shutil.copy(REPO_ROOT / "dagster.yaml", dagster_home / "dagster.yaml")
    command = [
        str(Path(sys.executable).parent / "dagster"),
        "asset",
        "materialize",
        "-m",
        "dify_meter.definitions",
        "--select",
        "raw_usage_events",
        "--partition",
        DAY.isoformat(),
    ]
    print("  Dagster, remote, concurrency 8 ...", file=sys.stderr, flush=True)
    with SimulatorProcess(SCRIPT, spec, latency_ms=REMOTE.latency_ms) as simulator:
        env = {
            **os.environ,
            "DAGSTER_HOME": str(dagster_home),
            "DIFY_API_URL": simulator.base_url,
            "DIFY_API_KEY": simulator.api_key,
            "DIFY_WORKSPACE_ID": simulator.workspace_id,
            "DIFY_TIMEZONE": TIMEZONE,
            "DIFY_MAX_CONCURRENCY": str(DEFAULT_CONCURRENCY),
            "DIFY_METER_DUCKDB": str(folder / "dagster.duckdb"),
        }
        simulator.stats()
        wall, output = run_timed(command, env=env)
        stats = simulator.stats()
    steps = STEPS_FINISHED.search(output)
    if "RUN_SUCCESS" not in output or steps is None:
        raise RuntimeError("dagster asset materialize did not report a successful run:\n" + output[-3000:])
    served = stats.served
    reported = DIFY_REQUESTS.search(output)
    return {
        "wall": wall,
        "steps": float(steps.group(1)) / (1000 if steps.group(2) == "ms" else 1),
        "requests": len(served),
        "fetch_requests": int(reported.group(1)) if reported else None,
        "dify_seconds": max(r.answered for r in served) - min(r.arrived for r in served) if served else 0.0,
    }


# --- the report ---------------------------------------------------------------------------------------


def _s(value: float) -> str:
    return f"{value:.2f}"


def _verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def print_day(spec: WorkspaceSpec, day: Day) -> None:
    apps = sum(day.apps.values())
    runs, messages = sum(day.runs.values()), sum(day.messages.values())
    print(
        f"Workspace: scale {spec.scale:g}, generator seeds 7 and 8 merged, days {START_DATE}..{DAY} "
        f"({TIMEZONE}, also DIFY_TIMEZONE); measured day {DAY}.\n  {day.summary}"
    )
    print(
        f"  The day: {messages:,} messages ({_counts(day.messages)}), {runs:,} workflow runs "
        f"({_counts(day.runs)}), {day.events:,} usage events, {day.total_tokens:,} tokens (ground truth)."
    )
    sizes = apps >= TARGET_APPS and runs >= TARGET_RUNS and messages >= TARGET_MESSAGES
    print(
        f"  Issue size (>= {TARGET_APPS} apps of all modes, >= {TARGET_RUNS:,} workflow runs, "
        f">= {TARGET_MESSAGES:,} messages): {'yes' if sizes else 'no (a smaller day: --scale 26 is the size)'}"
    )


def _counts(counter: Counter[str]) -> str:
    return ", ".join(f"{n:,} {name}" for name, n in counter.most_common())


def print_runs(runs: list[Run], day: Day) -> None:
    headers = [
        "profile",
        "conc.",
        "run",
        "wall s",
        "requests",
        "bound s",
        "wall/bound",
        "retries",
        "429/5xx",
        "lowest conc.",
        "client CPU s",
        "Dify CPU ms/req",
        "events",
        "ground truth",
    ]
    rows = []
    for run in runs:
        result = run.result
        truth = result["events"] == day.events and result["total_tokens"] == day.total_tokens
        rows.append(
            [
                run.profile.name,
                run.concurrency,
                run.label,
                _s(run.wall),
                f"{run.requests:,}",
                _s(run.bound),
                _s(run.wall / run.bound),
                result["retries"],
                run.server_errors(),
                result["lowest_concurrency"],
                _s(result["cpu_seconds"]),
                f"{1000 * run.stats.cpu_seconds / max(1, run.requests):.2f}",
                f"{result['events']:,}",
                "equal" if truth else "DIFFERS",
            ]
        )
    print(format_table(headers, rows))
    print(
        "  requests = every request the simulator answered (the fetch and the statistics of the check); "
        "bound = requests x latency / requests Dify answers at once; client CPU = the materializing process "
        "(fetch, parsing, DuckDB); Dify CPU = the simulator process."
    )


def print_targets(remote1: Run, remote8: Run, busy1: Run, busy8: Run) -> None:
    speedup = remote1.wall / remote8.wall
    print(
        f"remote: concurrency 8 is {speedup:.1f}x faster than 1 (target >= {TARGET_SPEEDUP:g}x): "
        f"{_verdict(speedup >= TARGET_SPEEDUP)}; {remote8.wall / remote8.bound:.2f}x the lower bound "
        f"(target <= {TARGET_REMOTE_RATIO:g}x): {_verdict(remote8.wall / remote8.bound <= TARGET_REMOTE_RATIO)}"
    )
    print(
        f"busy: concurrency 8 {_s(busy8.wall)} s vs 1 {_s(busy1.wall)} s, no slower: "
        f"{_verdict(busy8.wall <= busy1.wall)}; {busy8.wall / busy8.bound:.2f}x the lower bound "
        f"(target <= {TARGET_BUSY_RATIO:g}x): {_verdict(busy8.wall / busy8.bound <= TARGET_BUSY_RATIO)}; "
        f"429/5xx answers {busy8.server_errors()}, retries {busy8.result['retries']}"
    )


def print_anatomy(run: Run) -> None:
    """Why the run took longer than its bound: requests in flight, Dify's answer times, DuckDB connections."""
    served, began, ended = run.stats.served, run.result["began"], run.result["ended"]
    levels = seconds_by_in_flight(served, began, ended, run.concurrency)
    if run.profile.max_parallel == 1:  # Dify answers one at a time: it is either serving or idle
        serving = levels["some"] + levels["all"]
        print(
            f"  Dify served for {_s(serving)} s ({1000 * serving / run.requests:.1f} ms a request, latency "
            f"{run.profile.latency_ms:g} ms) and waited for the client {_s(levels['none'])} s: wall / bound = "
            f"{serving / run.bound:.3f} + {levels['none'] / run.bound:.3f}"
        )
    else:
        in_flight = mean_in_flight(served, began, ended)
        answer = sum(r.answered - r.arrived for r in served) / len(served)
        ratio = run.concurrency / in_flight * answer * 1000 / run.profile.latency_ms
        print(
            f"  {run.requests:,} requests answered in {1000 * answer:.1f} ms on average (latency "
            f"{run.profile.latency_ms:g} ms), {in_flight:.2f} in flight on average of {run.concurrency}: "
            f"wall / bound = ({run.concurrency} / {in_flight:.2f}) x ({1000 * answer:.1f} / "
            f"{run.profile.latency_ms:g}) = {ratio:.2f}"
        )
        print(
            f"  seconds with no request in flight (only the client working) {_s(levels['none'])}, with 1 to "
            f"{run.concurrency - 1} {_s(levels['some'])}, with {run.concurrency} {_s(levels['all'])}"
        )
    rows = [
        [label, f"{times.requests:,}", f"{1000 * times.mean_seconds:.1f}", _s(times.first), _s(times.last)]
        for times in by_kind(served, began)
        for kind, label in KINDS
        if kind == times.kind
    ]
    print(format_table(["kind", "requests", "mean answer ms", "first sent at s", "last answered at s"], rows))
    print_connections(run)


def print_connections(run: Run) -> None:
    """The DuckDB connections of the run, per caller (the main thread holds them, mostly between requests)."""
    connections = run.result["duckdb"]
    rows = [
        [caller, n, _s(opening), _s(using), _s(closing), _s(opening + using + closing)]
        for caller, (n, opening, using, closing) in sorted(connections.items(), key=lambda item: -sum(item[1][1:]))
    ]
    totals = [sum(values[i] for values in connections.values()) for i in range(4)]
    rows.append(["total", totals[0], *(_s(value) for value in totals[1:]), _s(sum(totals[1:]))])
    print(
        format_table(
            ["DuckDB connections opened by", "count", "open + schema s", "in use s", "close s", "total s"], rows
        )
    )


def print_requests(first: Run, rerun: Run, day: Day) -> None:
    actual, repeated = first.by_kind(), rerun.by_kind()
    rows = [
        [
            label,
            f"{day.minimum[kind]:,}",
            f"{actual[kind]:,}",
            f"{actual[kind] - day.minimum[kind]:+,}",
            f"{repeated[kind]:,}",
        ]
        for kind, label in KINDS
        if day.minimum[kind] or actual[kind] or repeated[kind]
    ]
    minimum = sum(day.minimum.values())
    rows.append(
        ["total", f"{minimum:,}", f"{first.requests:,}", f"{first.requests - minimum:+,}", f"{rerun.requests:,}"]
    )
    print(format_table(["kind", "minimum", "first run", "extra", "re-run"], rows))
    share = rerun.requests / first.requests
    again = rerun.result
    print(
        f"  first run: {first.requests / minimum:.2f}x the minimum ({first.requests:,} requests for the "
        f"simulated day; FetchResult.requests {first.result['fetch_requests']:,}, the rest is the statistics of "
        f"the check). Re-run with nothing changed: {rerun.requests:,} requests = {100 * share:.0f}% of the first "
        f"(target <= {100 * TARGET_RERUN_SHARE:.0f}%): {_verdict(share <= TARGET_RERUN_SHARE)}; "
        f"{again['detail_reads']} detail reads; chat conversations read {again['conversations_read']:,}, "
        f"from the cache {again['conversations_cached']:,}; workflow runs read {again['runs_read']:,}, "
        f"from the cache {again['runs_cached']:,}."
    )


def print_pushback(run: Run, clean: Run) -> None:
    recovered = recovery_seconds(run.stats.served, run.concurrency)
    print(
        f"Faults {', '.join(run.profile.faults)}: {run.pushbacks()} answers 429/503, "
        f"{run.result['retries']} retries; "
        f"lowest concurrency {run.result['lowest_concurrency']}; back to {run.concurrency} in flight "
        + (f"{recovered:.2f} s after the last 429/503" if recovered is not None else "never after the last 429/503")
        + f"; wall {_s(run.wall)} s vs {_s(clean.wall)} s without faults; events "
        + ("equal to" if run.result["events"] == clean.result["events"] else "DIFFERENT from")
        + " the clean run."
    )
    rows = [
        [f"{bucket.start:.1f}", bucket.answered, bucket.pushbacks, f"{bucket.mean_in_flight:.1f}"]
        for bucket in timeline(run.stats.served, run.result["began"], run.result["ended"])
    ]
    print(format_table(["from s", "answered", "429/503", "mean in flight"], rows))


def print_dagster(dagster: dict[str, Any], plain: Run) -> None:
    print(
        f"dagster asset materialize raw_usage_events (+ 2 checks), remote, concurrency 8: "
        f"wall {_s(dagster['wall'])} s, "
        f"steps {_s(dagster['steps'])} s (Dagster's 'Finished steps in process'), first to last Dify request "
        f"{_s(dagster['dify_seconds'])} s, {dagster['requests']:,} requests; without Dagster "
        f"{_s(plain.wall)} s. The rest of the wall time is process start, imports, definitions and the instance."
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--scale",
        type=float,
        default=DEFAULT_SCALE,
        help="traffic of the generated workspaces (default %(default)s; 26 is the issue's size)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="runs of the remote profile at concurrency 8, the median is judged (default %(default)s)",
    )
    parser.add_argument("--no-dagster", action="store_true", help="skip the run through dagster asset materialize")
    parser.add_argument(
        "--versions",
        action="store_true",
        help="only count requests per LLM call of the day in each simulated Dify version (~1 min)",
    )
    parser.add_argument("--child", choices=("dify", "fetch"), help=argparse.SUPPRESS)
    parser.add_argument("--start-date", type=date.fromisoformat, help=argparse.SUPPRESS)
    parser.add_argument("--days", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--account-timezone", help=argparse.SUPPRESS)
    parser.add_argument("--latency-ms", type=float, default=0.0, help=argparse.SUPPRESS)
    parser.add_argument("--max-parallel", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--fault", action="append", default=[], help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--api-key", help=argparse.SUPPRESS)
    parser.add_argument("--workspace-id", help=argparse.SUPPRESS)
    parser.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--concurrency", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child == "dify":
        serve_child(
            WorkspaceSpec(args.scale, args.start_date, args.days, args.account_timezone),
            latency_ms=args.latency_ms,
            max_parallel=args.max_parallel,
            faults=args.fault,
        )
        return 0
    if args.child == "fetch":
        child_fetch(args.url, args.api_key, args.workspace_id, args.db, args.concurrency)
        return 0
    if not math.isfinite(args.scale) or args.scale <= 0:
        parser.error(f"--scale must be a positive number, got {args.scale}")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")

    load_before = os.getloadavg()[0]
    spec = WorkspaceSpec(args.scale, START_DATE, GENERATED_DAYS, TIMEZONE)
    if args.versions:
        print_requests_per_llm_call(spec, window(DAY), TIMEZONE)
        return 0
    print("Generating the workspace and its ground truth ...", file=sys.stderr, flush=True)
    day = describe_day(spec)
    with tempfile.TemporaryDirectory(prefix="bench_fetch_") as tmp:
        folder = Path(tmp)
        first, rerun = measure(spec, REMOTE, DEFAULT_CONCURRENCY, folder, rerun=True, name="remote_8_1")
        remote8_runs = [first]
        for attempt in range(2, args.repeat + 1):
            remote8_runs += measure(spec, REMOTE, DEFAULT_CONCURRENCY, folder, name=f"remote_8_{attempt}")
        for number, run in enumerate(remote8_runs, start=1):
            run.label = f"first, {number} of {len(remote8_runs)}"
        remote8 = sorted(remote8_runs, key=lambda run: run.wall)[len(remote8_runs) // 2]
        (remote1,) = measure(spec, REMOTE, 1, folder)
        (busy1,) = measure(spec, BUSY, 1, folder)
        (busy8,) = measure(spec, BUSY, DEFAULT_CONCURRENCY, folder)
        (pushback,) = measure(spec, pushback_profile(sum(day.minimum.values())), DEFAULT_CONCURRENCY, folder)
        dagster = None if args.no_dagster else measure_dagster(spec, folder)

    print(
        f"\nMachine: {machine_description()}; 1-minute load average before the run: {load_before:.2f}, "
        f"after it: {os.getloadavg()[0]:.2f}"
    )
    print_day(spec, day)
    print("\nEach run: a fresh simulator process, a fresh DuckDB file, refresh_raw_usage in a fresh process.")
    print_runs([remote1, *remote8_runs, rerun, busy1, busy8, pushback], day)
    print()
    print_targets(remote1, remote8, busy1, busy8)
    ratios = sorted(run.wall / run.bound for run in remote8_runs)
    print(
        f"  remote, concurrency 8: the median of {len(ratios)} runs is judged; wall / bound of the runs "
        f"{', '.join(f'{ratio:.2f}' for ratio in ratios)}"
    )
    print("\nWhere the time goes, remote, concurrency 8, the median run (requests as the simulator saw them):")
    print_anatomy(remote8)
    print("\nWhere the time goes, busy, concurrency 8:")
    print_anatomy(busy8)
    print("\nRequests per kind (remote, concurrency 8), next to the minimum the usage semantics need:")
    print_requests(first, rerun, day)
    print("\nPushback (remote profile with 429/503 answers, concurrency 8):")
    print_pushback(pushback, remote8)
    if dagster is not None:
        print()
        print_dagster(dagster, remote8)
    return 0


if __name__ == "__main__":
    sys.exit(main())
