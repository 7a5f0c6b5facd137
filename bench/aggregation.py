"""Aggregation benchmark (issue 7): N synthetic raw events of one day -> the four aggregates and
their checks, timed at the SQL layer, with the peak RSS of a fresh process per size.

    python bench/aggregation.py [--sizes 100000,1000000,5000000] [--repeat 3] [--no-dagster]

For each size, one child process generates the events inside DuckDB (timed, not counted) into a
fresh file. Then `--repeat` fresh children, one after the other, each do what the four aggregate
assets of a daily run do (dify_meter/defs/aggregates.py) without Dagster: per aggregate, load the
mapping, open a connection through DuckDBStore, `rebuild_aggregate`, that asset's checks, close.
Their sum is the counted SQL time (target < 1 s at 1M events; the median child is reported); a
child's VmHWM is its peak RSS (target < 600 MB; the largest is reported). DuckDB runs with the
project's settings (DuckDBStore sets none: threads = cores, memory_limit = 80% of RAM), because
those are what production runs with.
Finally Dagster's fixed cost per run is timed with `dagster asset materialize` of the same four
assets on an empty day, and on the 1M day when that size was measured.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from statistics import median
from typing import Any

import duckdb

from dify_meter.core.store import DuckDBStore
from dify_meter.usage import checks
from dify_meter.usage.aggregates import (
    AggregateMode,
    load_normalized_models,
    prepare_window_events,
    rebuild_aggregate,
)
from dify_meter.usage.normalize import Normalizer

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    REPO_ROOT,
    Stopwatch,
    current_rss_mib,
    format_table,
    machine_description,
    peak_rss_mib,
    report_result,
    run_child,
    run_timed,
)

DAY = date(2025, 12, 5)
DEFAULT_SIZES = (100_000, 1_000_000, 5_000_000)
TARGET_EVENTS = 1_000_000
TARGET_SECONDS = 1.0
TARGET_RSS_MB = 600
MODES: tuple[AggregateMode, ...] = ("per_model", "per_user", "per_app", "workspace")
AGGREGATE_ASSETS = ("usage_per_model", "usage_per_user", "usage_per_app", "usage_workspace")
END_USERS = 3_000
ACCOUNTS = 25
APPS = 30
UNPRICED_PER_MILLE = 30  # of events whose model has a price; unpriced-only models add ~2% more

# (provider_raw, model_raw, currency, USD-or-RMB-or-EUR per million input tokens, per million
# output tokens, relative weight). Both id forms of Dify ("openai", "langgenius/openai/openai")
# occur, and some pairs normalize to the same key (same currency, as real pricing would give).
# A price of None means the model never has one (self-hosted, custom endpoint).
RAW_MODELS: tuple[tuple[str, str, str, str | None, str | None, int], ...] = (
    ("langgenius/openai/openai", "gpt-4o", "USD", "2.5", "10", 90),
    ("openai", "gpt-4o", "USD", "2.5", "10", 30),
    ("langgenius/openai/openai", "gpt-4o-mini", "USD", "0.15", "0.6", 120),
    ("openai", "gpt-4o-mini", "USD", "0.15", "0.6", 40),
    ("langgenius/openai/openai", "gpt-4.1", "USD", "2", "8", 40),
    ("langgenius/openai/openai", "o3-mini", "USD", "1.1", "4.4", 15),
    ("langgenius/anthropic/anthropic", "claude-3-5-sonnet-20241022", "USD", "3", "15", 60),
    ("anthropic", "claude-3-5-sonnet-20241022", "USD", "3", "15", 20),
    ("langgenius/anthropic/anthropic", "claude-3-5-haiku-20241022", "USD", "0.8", "4", 30),
    ("anthropic", "claude-3-haiku-20240307", "USD", "0.25", "1.25", 10),
    ("langgenius/gemini/google", "gemini-2.0-flash", "USD", "0.1", "0.4", 50),
    ("google", "gemini-1.5-pro", "USD", "1.25", "5", 10),
    ("langgenius/vertex_ai/vertex_ai", "claude-3-haiku@20240307", "USD", "0.25", "1.25", 10),
    ("langgenius/bedrock/bedrock", "us.anthropic.claude-3-5-sonnet-20241022-v2:0", "USD", "3", "15", 25),
    ("bedrock", "anthropic.claude-3-5-sonnet-20241022-v2:0", "USD", "3", "15", 5),
    ("langgenius/bedrock/bedrock", "amazon.nova-pro-v1:0", "USD", "0.8", "3.2", 10),
    ("langgenius/azure_openai/azure_openai", "gpt-4o-prod", "USD", "2.5", "10", 30),
    ("azure_openai", "gpt-35-turbo", "USD", "0.5", "1.5", 10),
    ("langgenius/deepseek/deepseek", "deepseek-chat", "RMB", "2", "8", 60),
    ("deepseek", "deepseek-chat", "RMB", "2", "8", 20),
    ("langgenius/deepseek/deepseek", "deepseek-reasoner", "RMB", "4", "16", 20),
    ("langgenius/tongyi/tongyi", "qwen-max", "RMB", "2.4", "9.6", 25),
    ("tongyi", "qwen-plus", "RMB", "0.8", "2", 25),
    ("langgenius/tongyi/tongyi", "qwen-turbo", "RMB", "0.3", "0.6", 20),
    ("langgenius/zhipuai/zhipuai", "glm-4-plus", "RMB", "5", "5", 15),
    ("zhipuai", "glm-4-flash", "RMB", "0.1", "0.1", 15),
    ("langgenius/wenxin/wenxin", "ernie-4.0-8k", "RMB", "30", "90", 5),
    ("langgenius/moonshot/moonshot", "moonshot-v1-8k", "RMB", "12", "12", 10),
    ("langgenius/volcengine_maas/volcengine_maas", "doubao-pro-32k/character-240828", "RMB", "0.8", "2", 15),
    ("langgenius/siliconflow/siliconflow", "Pro/deepseek-ai/DeepSeek-R1", "RMB", "4", "16", 10),
    ("langgenius/openrouter/openrouter", "anthropic/claude-3.5-haiku", "USD", "0.8", "4", 15),
    ("openrouter", "meta-llama/llama-3.1-70b-instruct", "USD", "0.12", "0.3", 10),
    ("langgenius/mistralai/mistralai", "mistral-large-latest", "EUR", "2", "6", 15),
    ("mistralai", "mistral-small-latest", "EUR", "0.2", "0.6", 10),
    ("langgenius/x/x", "grok-2-1212", "USD", "2", "10", 10),
    ("langgenius/groq/groq", "llama-3.3-70b-versatile", "USD", "0.59", "0.79", 15),
    ("langgenius/ollama/ollama", "llama3.1:latest", "USD", None, None, 10),
    ("ollama", "llama3.1", "USD", None, None, 5),
    ("langgenius/openai_api_compatible/openai_api_compatible", "qwen2.5-72b-instruct", "USD", None, None, 5),
    ("unknown", "unknown", "USD", "0.5", "1.5", 5),  # agent nodes that name no model
)

APP_MODES = ("chat", "chat", "advanced-chat", "workflow", "agent-chat", "completion")

GENERATE_SQL = """
INSERT INTO raw_usage_events
WITH draws AS (
    SELECT i,
           hash(i, 'model') % $model_slots AS model_slot,
           hash(i, 'app') % $apps AS app_index,
           hash(i, 'user type') % 100 AS user_draw,
           hash(i, 'end user') % $end_users AS end_user,
           hash(i, 'account') % $accounts AS account,
           20 + hash(i, 'input') % 4000 AS input_tokens,
           5 + hash(i, 'output') % 1200 AS output_tokens,
           hash(i, 'time') % 86400000 AS millis,
           hash(i, 'priced') % 1000 AS price_draw,
           hash(i, 'approximate') % 1000 AS approximate_draw,
           hash(i, 'node type') % 100 AS node_draw,
           hash(i, 'conversation') % greatest($events // 8, 1) AS conversation
    FROM range($events) AS r(i)
),
events AS (
    SELECT d.*, a.app_id, a.app_name, a.app_mode, m.provider_raw, m.model_raw, m.currency,
           m.nano_in, m.nano_out,
           a.app_mode IN ('advanced-chat', 'workflow') AS is_node,
           m.nano_in IS NOT NULL AND d.price_draw >= $unpriced_per_mille AS priced
    FROM draws AS d
    JOIN bench_model_slots AS s ON s.slot = d.model_slot
    JOIN bench_models AS m ON m.model_index = s.model_index
    JOIN bench_apps AS a ON a.app_index = d.app_index
)
SELECT md5('event ' || i)::UUID::VARCHAR,
       CASE WHEN is_node THEN 'node' ELSE 'message' END,
       $day,
       $day_start + to_milliseconds(millis),
       app_id,
       app_name,
       app_mode,
       CASE WHEN user_draw < 95 THEN 'end_user' ELSE 'account' END,
       CASE WHEN user_draw < 95 THEN md5('end user ' || end_user)::UUID::VARCHAR
            ELSE md5('account ' || account)::UUID::VARCHAR END,
       provider_raw,
       model_raw,
       input_tokens,
       output_tokens,
       input_tokens + output_tokens,
       CASE WHEN priced
            THEN (input_tokens * nano_in + output_tokens * nano_out)::DECIMAL(38, 0) * 0.000000001::DECIMAL(38, 10)
            ELSE 0 END,
       CASE WHEN priced THEN currency END,
       priced,
       app_mode IN ('chat', 'agent-chat') AND approximate_draw < 10,
       CASE WHEN app_mode <> 'workflow'
            THEN md5('conversation ' || app_index || ' ' || conversation)::UUID::VARCHAR END,
       CASE WHEN NOT is_node THEN md5('event ' || i)::UUID::VARCHAR
            WHEN app_mode = 'advanced-chat' THEN md5('message ' || i // 3)::UUID::VARCHAR END,
       CASE WHEN is_node THEN md5('run ' || i // 3)::UUID::VARCHAR END,
       CASE WHEN NOT is_node THEN NULL
            WHEN node_draw < 80 THEN 'llm'
            WHEN node_draw < 90 THEN 'question-classifier'
            WHEN node_draw < 97 THEN 'parameter-extractor'
            ELSE 'agent' END,
       current_timestamp
FROM events
"""


def _nano_per_token(per_million: str | None) -> int | None:
    """Price per million tokens -> billionths of the currency per token (exact integers)."""
    if per_million is None:
        return None
    nano = Decimal(per_million) * 1000
    if nano != nano.to_integral_value():
        raise ValueError(f"price {per_million} per million tokens is finer than 1e-9 per token")
    return int(nano)


def generate_events(conn: duckdb.DuckDBPyConnection, events: int) -> None:
    """Fill raw_usage_events with `events` pseudo-random events of DAY, deterministically."""
    conn.execute(
        "CREATE OR REPLACE TEMP TABLE bench_models (model_index INTEGER, provider_raw VARCHAR, "
        "model_raw VARCHAR, currency VARCHAR, nano_in BIGINT, nano_out BIGINT, weight INTEGER)"
    )
    conn.executemany(
        "INSERT INTO bench_models VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            (index, provider, model, currency, _nano_per_token(price_in), _nano_per_token(price_out), weight)
            for index, (provider, model, currency, price_in, price_out, weight) in enumerate(RAW_MODELS)
        ],
    )
    conn.execute(
        "CREATE OR REPLACE TEMP TABLE bench_model_slots AS "
        "SELECT model_index, unnest(range(start, start + weight)) AS slot FROM "
        "(SELECT *, (sum(weight) OVER (ORDER BY model_index) - weight)::BIGINT AS start FROM bench_models)"
    )
    conn.execute(
        "CREATE OR REPLACE TEMP TABLE bench_apps (app_index INTEGER, app_id VARCHAR, "
        "app_name VARCHAR, app_mode VARCHAR)"
    )
    conn.executemany(
        "INSERT INTO bench_apps VALUES (?, ?, ?, ?)",
        [
            (
                index,
                str(uuid.uuid5(uuid.NAMESPACE_URL, f"bench-app-{index}")),
                f"App {index} ({APP_MODES[index % len(APP_MODES)]})",
                APP_MODES[index % len(APP_MODES)],
            )
            for index in range(APPS)
        ],
    )
    conn.execute(
        GENERATE_SQL,
        {
            "events": events,
            "model_slots": sum(model[5] for model in RAW_MODELS),
            "apps": APPS,
            "end_users": END_USERS,
            "accounts": ACCOUNTS,
            "unpriced_per_mille": UNPRICED_PER_MILLE,
            "day": DAY,
            "day_start": datetime(DAY.year, DAY.month, DAY.day, tzinfo=UTC),
        },
    )
    conn.execute("CHECKPOINT")


Check = Callable[[duckdb.DuckDBPyConnection, Normalizer], checks.CheckOutcome]


def _checks_of(mode: AggregateMode) -> list[tuple[str, Check]]:
    """The checks the asset of `mode` runs, in its order (dify_meter/defs/aggregates.py, _run_checks)."""
    common: list[tuple[str, Check]] = [
        ("conservation", lambda conn, normalizer: checks.check_conservation(conn, mode, DAY, DAY)),
        ("key_uniqueness", lambda conn, normalizer: checks.check_key_uniqueness(conn, mode, DAY, DAY)),
        ("token_arithmetic", lambda conn, normalizer: checks.check_token_arithmetic(conn, mode, DAY, DAY)),
    ]
    if mode != "per_model":
        return common
    return common + [
        ("normalization", lambda conn, normalizer: checks.check_normalization(conn, DAY, DAY, normalizer)),
        ("currency", lambda conn, normalizer: checks.check_currency(conn, DAY, DAY)),
        ("unpriced_usage", lambda conn, normalizer: checks.check_unpriced(conn, DAY, DAY)),
    ]


def child_generate(db: Path, events: int) -> None:
    start = time.perf_counter()
    with DuckDBStore(db).connect() as conn:
        generate_events(conn, events)
        row = conn.execute(
            "SELECT count(*), count(DISTINCT provider_raw || ' / ' || model_raw), count(DISTINCT user_id), "
            "count(DISTINCT app_id), count(*) FILTER (NOT priced), list(DISTINCT currency ORDER BY currency) "
            "FROM raw_usage_events"
        ).fetchone()
    assert row is not None
    report_result(
        {
            "seconds": time.perf_counter() - start,
            "events": row[0],
            "raw_ids": row[1],
            "users": row[2],
            "apps": row[3],
            "unpriced": row[4],
            "currencies": [c for c in row[5] if c is not None],
            "file_mib": db.stat().st_size / 2**20,
        }
    )


def child_measure(db: Path) -> None:
    """The four aggregate assets' work without Dagster, then the anatomy of one rebuild."""
    rss_before = current_rss_mib()
    store = DuckDBStore(db)
    counted, anatomy = Stopwatch(), Stopwatch()
    rows: dict[str, int] = {}
    outcomes: dict[str, str] = {}
    cpu_start = time.process_time()
    for mode in MODES:
        with ExitStack() as connection:
            with counted.time(f"{mode}: load mapping, connect, schema"):
                normalizer = Normalizer.load()
                conn = connection.enter_context(store.connect())
            with counted.time(f"{mode}: rebuild (incl. summary)"):
                rows[mode] = rebuild_aggregate(conn, mode, DAY, DAY, normalizer).rows
            for name, check in _checks_of(mode):
                with counted.time(f"{mode}: check {name}"):
                    outcome = check(conn, normalizer)
                outcomes[f"{mode}.{name}"] = "pass" if outcome.passed else f"FAIL ({outcome.severity})"
            with counted.time(f"{mode}: close connection"):
                connection.close()
    cpu_seconds = time.process_time() - cpu_start
    sql_peak = peak_rss_mib()
    with store.connect() as conn:
        normalizer = Normalizer.load()
        with anatomy.time("normalization alone (distinct ids -> temp table)"):
            load_normalized_models(conn, DAY, DAY, normalizer)
        with anatomy.time("prepare_window_events (normalization + window_events)"):
            prepare_window_events(conn, DAY, DAY, normalizer)
        settings = dict(
            conn.execute(
                "SELECT name, value FROM duckdb_settings() WHERE name IN ('threads', 'memory_limit')"
            ).fetchall()
        )
    report_result(
        {
            "counted": counted.seconds,
            "anatomy": anatomy.seconds,
            "rows": rows,
            "checks": outcomes,
            "cpu_seconds": cpu_seconds,
            "rss_before_mib": rss_before,
            "peak_rss_mib": sql_peak,
            "duckdb_settings": settings,
        }
    )


def measure_size(events: int, folder: Path, repeat: int) -> dict[str, Any]:
    """Generate once, then measure `repeat` times, each in a fresh process; medians per step."""
    db = folder / f"events_{events}.duckdb"
    for stale in (db, db.with_name(db.name + ".wal")):  # a size given twice starts afresh
        stale.unlink(missing_ok=True)
    script = str(Path(__file__).resolve())
    generated = run_child([script, "--child", "generate", "--db", str(db), "--events", str(events)])
    runs = [run_child([script, "--child", "measure", "--db", str(db)]) for _ in range(repeat)]
    totals = [sum(run["counted"].values()) for run in runs]
    return {
        "events": events,
        "db": str(db),
        "generated": generated,
        "counted": {step: median(run["counted"][step] for run in runs) for step in runs[0]["counted"]},
        "anatomy": {step: median(run["anatomy"][step] for run in runs) for step in runs[0]["anatomy"]},
        "total": median(totals),
        "total_min": min(totals),
        "total_max": max(totals),
        "cpu_seconds": median(run["cpu_seconds"] for run in runs),
        "peak_rss_mib": max(run["peak_rss_mib"] for run in runs),
        "rss_before_mib": median(run["rss_before_mib"] for run in runs),
        "rows": runs[0]["rows"],
        "checks": runs[0]["checks"],
        "duckdb_settings": runs[0]["duckdb_settings"],
    }


# Dagster's own timing of the steps of a run, from the event log it prints.
STEPS_FINISHED = re.compile(r"Finished steps in process \(pid: \d+\) in ([\d.]+)(ms|s)\b")


def _steps_seconds(output: str) -> float:
    match = STEPS_FINISHED.search(output)
    if "RUN_SUCCESS" not in output or match is None:
        raise RuntimeError("dagster asset materialize did not report a successful run:\n" + output[-3000:])
    return float(match.group(1)) / (1000 if match.group(2) == "ms" else 1)


def measure_dagster(folder: Path, full_day_db: Path | None, repeat: int) -> list[list[str]]:
    """`dagster asset materialize` of the four aggregates (a fresh process per run, as a launched
    run is): wall time, and the time Dagster reports for executing the steps. Medians of `repeat`."""
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
        ",".join(AGGREGATE_ASSETS),
        "--partition",
        DAY.isoformat(),
    ]
    base_env = {
        **os.environ,
        "DAGSTER_HOME": str(dagster_home),
        "DIFY_TIMEZONE": "UTC",
        "DIFY_METER_DUCKDB": str(folder / "empty.duckdb"),
    }
    rows = [
        [
            "python -c 'import dagster'",
            _seconds(
                median(run_timed([sys.executable, "-c", "import dagster"], env=base_env)[0] for _ in range(repeat))
            ),
            "-",
        ],
        [
            "python: import and load dify_meter.definitions",
            _seconds(
                median(
                    run_timed([sys.executable, "-c", "import dify_meter.definitions as d; d.defs()"], env=base_env)[0]
                    for _ in range(repeat)
                )
            ),
            "-",
        ],
    ]
    run_timed(command, env=base_env)  # the first run creates the instance's storage: not measured
    checks = sum(len(_checks_of(mode)) for mode in MODES)
    targets = [(f"materialize {len(AGGREGATE_ASSETS)} aggregates + {checks} checks, empty day", base_env)]
    if full_day_db is not None:
        targets.append(
            (f"same, on the {TARGET_EVENTS:,}-event day", {**base_env, "DIFY_METER_DUCKDB": str(full_day_db)})
        )
    for label, env in targets:
        runs = [run_timed(command, env=env) for _ in range(repeat)]
        rows.append(
            [
                label,
                _seconds(median(wall for wall, _ in runs)),
                _seconds(median(_steps_seconds(output) for _, output in runs)),
            ]
        )
    return rows


def _seconds(value: float) -> str:
    return f"{value:.3f}"


def print_report(results: Sequence[dict[str, Any]], dagster: list[list[str]], repeat: int, load_before: float) -> None:
    sizes = [r["events"] for r in results]
    headers = ["step (seconds)", *(f"{n:,}" for n in sizes)]
    print(
        f"\nMachine: {machine_description()}; 1-minute load average before the run: "
        f"{load_before:.2f} (other work on the machine slows the figures)"
    )
    print(f"DuckDB settings (project defaults, none set): {results[0]['duckdb_settings']}\n")
    print(
        format_table(
            headers, [["generate events (not counted)", *(_seconds(r["generated"]["seconds"]) for r in results)]]
        )
    )
    mix = results[-1]["generated"]
    print(
        f"  mix: {mix['raw_ids']} raw provider/model ids, {mix['users']} users, {mix['apps']} apps, "
        f"currencies {mix['currencies']}, {100 * mix['unpriced'] / mix['events']:.1f}% unpriced\n"
    )
    print(f"Median of {repeat} fresh processes per size:")
    rows = [[step, *(_seconds(r["counted"][step]) for r in results)] for step in results[0]["counted"]]
    rows.append(["TOTAL SQL (counted), median", *(_seconds(r["total"]) for r in results)])
    rows.append(["TOTAL SQL, min .. max", *(f"{r['total_min']:.3f}..{r['total_max']:.3f}" for r in results)])
    print(format_table(headers, rows))
    print("\nRepeated inside every rebuild and the normalization check (timed once on its own):")
    print(
        format_table(
            headers, [[step, *(_seconds(r["anatomy"][step]) for r in results)] for step in results[0]["anatomy"]]
        )
    )
    summary = []
    previous: dict[str, Any] | None = None
    for result in results:
        events, total, peak = result["events"], result["total"], result["peak_rss_mib"]
        time_growth = rss_growth = "-"
        if previous is not None:
            time_growth = f"x{total / previous['total']:.2f} for x{events / previous['events']:g} events"
            rss_growth = f"x{peak / previous['peak_rss_mib']:.2f}"
        verdict = "-"
        if events == TARGET_EVENTS:
            verdict = (
                f"time {'met' if total < TARGET_SECONDS else 'MISSED'}, "
                f"RSS {'met' if peak * 2**20 / 1e6 < TARGET_RSS_MB else 'MISSED'}"
            )
        summary.append(
            [
                f"{events:,}",
                _seconds(total),
                _seconds(result["cpu_seconds"]),
                _seconds(total / (events / 1e6)),
                time_growth,
                f"{result['rss_before_mib']:.0f}",
                f"{peak:.0f}",
                rss_growth,
                verdict,
            ]
        )
        previous = result
    print()
    print(
        format_table(
            [
                "events",
                "SQL s",
                "CPU s",
                "s per 1M",
                "time growth",
                "RSS idle MiB",
                "peak RSS MiB",
                "RSS growth",
                f"target at 1M (<{TARGET_SECONDS:g} s, <{TARGET_RSS_MB} MB)",
            ],
            summary,
        )
    )
    failing = {check: outcome for r in results for check, outcome in r["checks"].items() if outcome != "pass"}
    print(
        f"\nChecks not passing (expected: the mix has an 'unknown' agent id and unpriced models): "
        f"{failing or 'none'}; all other checks pass."
    )
    print("Aggregate rows: " + "; ".join(f"{r['events']:,}: {r['rows']}" for r in results))
    if dagster:
        print()
        print(
            f"Dagster's fixed cost per run (median of {repeat}; steps = Dagster's own 'Finished steps in "
            "process' time, the rest is process start, imports, loading definitions and the instance):"
        )
        print(format_table(["command, a fresh process each", "wall s", "steps s"], dagster))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes", default=",".join(map(str, DEFAULT_SIZES)), help="comma-separated event counts (default: %(default)s)"
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="measurements per size, each a fresh process (default: %(default)s; the medians are reported)",
    )
    parser.add_argument("--no-dagster", action="store_true", help="skip timing Dagster's per-run overhead")
    parser.add_argument("--child", choices=("generate", "measure"), help=argparse.SUPPRESS)
    parser.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--events", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child == "generate":
        child_generate(args.db, args.events)
        return 0
    if args.child == "measure":
        child_measure(args.db)
        return 0
    try:
        sizes = [int(size.replace("_", "")) for size in args.sizes.split(",")]
    except ValueError:
        parser.error(f"--sizes must be comma-separated whole numbers such as 100000,1000000, got {args.sizes!r}")
    if any(size < 1 for size in sizes):
        parser.error("--sizes must be positive event counts")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench_aggregation_") as tmp:
        folder = Path(tmp)
        results = []
        for size in sizes:
            print(f"{size:,} events ...", file=sys.stderr, flush=True)
            results.append(measure_size(size, folder, args.repeat))
        dagster: list[list[str]] = []
        if not args.no_dagster:
            print("Dagster overhead ...", file=sys.stderr, flush=True)
            full_day = next((Path(r["db"]) for r in results if r["events"] == TARGET_EVENTS), None)
            dagster = measure_dagster(folder, full_day, args.repeat)
        print_report(results, dagster, args.repeat, load_before)
    return 0


if __name__ == "__main__":
    sys.exit(main())
