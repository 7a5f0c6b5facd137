"""`dify-meter demo`: a simulated Dify workspace, a real Dagster materialization, a readable summary.

The simulator runs on a free loopback port; the materialization is the same
`dagster asset materialize` a user runs from the shell, recorded in a demo DAGSTER_HOME so the UI
shows it afterwards. The printed totals are compared with the simulator's ground truth.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections import Counter
from contextlib import ExitStack
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from dify_meter.core.markdown import markdown_table
from dify_meter.core.readable import amounts
from dify_meter.core.store import DuckDBStore
from dify_meter.sandbox.api_meter.store import Totals
from dify_meter.settings import DIFY_SOURCES

DEMO_API_METER_TOKEN = "demo-api-meter-token"  # the sandbox's own token, not a secret
DEMO_ASSETS = "raw_usage_events,usage_per_model,usage_per_user,usage_per_app,usage_workspace,api_meter_sent"


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "demo",
        help="simulate a Dify workspace and export its last days through Dagster (no setup needed)",
        description="Starts the Dify simulator on a free loopback port, materializes the last DAYS days "
        "through Dagster into a demo DuckDB file and DAGSTER_HOME, prints the per-model table and checks "
        "the totals against the simulator's ground truth.",
    )
    parser.add_argument("--days", type=int, default=7, help="days to export, ending yesterday (default 7)")
    parser.add_argument("--seed", type=int, default=7, help="seed of the simulated workspace (default 7)")
    parser.add_argument("--timezone", default="UTC", help="DIFY_TIMEZONE of the export (default UTC)")
    parser.add_argument("--home", default="data/demo", help="folder for the demo DuckDB file and DAGSTER_HOME")
    parser.add_argument(
        "--source",
        choices=DIFY_SOURCES,
        default="console",
        help="read the workspace through the simulated console API (default), or read-only from its rows in "
        "Dify's real schema on an embedded PostgreSQL",
    )
    parser.add_argument(
        "--ui",
        action="store_true",
        help="afterwards, start the Dagster UI on the demo's runs and data (Ctrl-C stops it)",
    )
    parser.add_argument("--port", type=int, default=3000, help="port of the UI with --ui (default 3000)")
    parser.set_defaults(handler=run_demo)


def _dagster_home(home: Path) -> Path:
    from dify_meter.defs.instance import ensure_dagster_home

    return ensure_dagster_home(home / "dagster_home")


def run_demo(args: argparse.Namespace) -> int:
    from dify_meter.cli.demo_sources import DEMO_SOURCES, DIFY_LOCATION_VARIABLES
    from dify_meter.sandbox.api_meter.server import ApiMeterServer
    from dify_meter.sandbox.dify.generate import generate_workspace
    from dify_meter.sandbox.dify.postgres import PostgresUnavailable

    if args.days < 1:
        print("dify-meter demo: --days must be at least 1", file=sys.stderr)
        return 2
    tz = ZoneInfo(args.timezone)
    yesterday = datetime.now(tz).date() - timedelta(days=1)
    first_day = yesterday - timedelta(days=args.days - 1)
    home = Path(args.home).resolve()
    home.mkdir(parents=True, exist_ok=True)
    duckdb_path = home / "dify_meter.duckdb"
    duckdb_path.unlink(missing_ok=True)  # the demo starts from a clean slate every time
    (home / "api_meter.sqlite").unlink(missing_ok=True)
    dagster_home = _dagster_home(home)

    print(f"Generating a simulated Dify workspace (seed {args.seed}) for {first_day} .. {yesterday} ...")
    workspace = generate_workspace(seed=args.seed, start_date=first_day - timedelta(days=1), days=args.days + 2)
    with ExitStack() as running:
        try:
            dify = DEMO_SOURCES[args.source](workspace)
            running.enter_context(dify)
        except PostgresUnavailable as exc:
            print(f"dify-meter demo --source database: {exc}", file=sys.stderr)
            return 2
        api_meter = running.enter_context(
            ApiMeterServer(token=DEMO_API_METER_TOKEN, store_path=home / "api_meter.sqlite")
        )
        env = {
            **{name: value for name, value in os.environ.items() if name not in DIFY_LOCATION_VARIABLES},
            **dify.environment,
            "DAGSTER_HOME": str(dagster_home),
            "DIFY_TIMEZONE": args.timezone,
            "DIFY_PARTITIONS_START": (first_day - timedelta(days=30)).isoformat(),
            "DIFY_METER_DUCKDB": str(duckdb_path),
            "API_METER_URL": api_meter.base_url,
            "API_METER_TOKEN": DEMO_API_METER_TOKEN,
            "API_METER_TENANT_ID": api_meter.tenant_id,
        }
        command = [
            sys.executable,
            "-m",
            "dagster",
            "asset",
            "materialize",
            "--select",
            DEMO_ASSETS,
            "--partition-range",
            f"{first_day}...{yesterday}",
            "-m",
            "dify_meter.definitions",
        ]
        print(f"{dify.description}, API_Meter on {api_meter.base_url}; materializing {DEMO_ASSETS} through Dagster ...")
        started = time.monotonic()
        log_path = home / "last_run.log"
        with log_path.open("w") as log:
            result = subprocess.run(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        elapsed = time.monotonic() - started
        read_cost = dify.read_cost()
        held = api_meter.totals()
    if result.returncode != 0:
        print(f"The materialization failed (exit {result.returncode}); its log is in {log_path}:", file=sys.stderr)
        print("".join(log_path.read_text().splitlines(keepends=True)[-30:]), file=sys.stderr)
        return 1

    start = datetime.combine(first_day, dtime(), tz).astimezone(UTC)
    end = datetime.combine(yesterday + timedelta(days=1), dtime(), tz).astimezone(UTC)
    truth = workspace.ground_truth(start, end, args.timezone)
    print(f"\nDone in {elapsed:.1f} s, {read_cost}.\n")
    code = _print_summary(DuckDBStore(duckdb_path), first_day, yesterday, truth, dagster_home, held)
    if not args.ui:
        return code
    from dify_meter.cli.start import serve

    # The UI shows the demo's runs, materializations, checks and metadata; the simulators are gone.
    partitions_start = first_day - timedelta(days=30)
    os.environ.update(
        {
            "DAGSTER_HOME": str(dagster_home),
            "DIFY_METER_DUCKDB": str(duckdb_path),
            "DIFY_TIMEZONE": args.timezone,
            "DIFY_PARTITIONS_START": partitions_start.isoformat(),
        }
    )
    settings = args.settings.model_copy(
        update={
            "dify_meter_duckdb": str(duckdb_path),
            "dify_timezone": args.timezone,
            "dify_partitions_start": partitions_start,
        }
    )
    return serve("127.0.0.1", args.port, settings)


def _print_summary(
    store: DuckDBStore, first_day: date, last_day: date, truth: list, dagster_home: Path, held: Totals
) -> int:
    with store.connect_read_only() as conn:
        rows = conn.execute(
            "SELECT provider, model, sum(request_count), sum(input_tokens), sum(output_tokens), sum(total_tokens), "
            "sum(cost), currency FROM usage_per_model WHERE usage_date BETWEEN ? AND ? "
            "GROUP BY provider, model, currency ORDER BY 6 DESC",
            [first_day, last_day],
        ).fetchall()
        totals = conn.execute(
            "SELECT count(*), coalesce(sum(total_tokens), 0) FROM raw_usage_events WHERE usage_date BETWEEN ? AND ?",
            [first_day, last_day],
        ).fetchone()
        assert totals is not None
        events, tokens = totals
        costs = dict(
            conn.execute(
                "SELECT currency, sum(cost) FROM usage_workspace WHERE usage_date BETWEEN ? AND ? "
                "GROUP BY 1 ORDER BY 1",
                [first_day, last_day],
            ).fetchall()
        )
        # The database source's documented better value: a message without usage metadata has its row's price.
        priced_from_row = conn.execute(
            "SELECT currency, count(*), sum(cost) FROM raw_usage_events WHERE usage_date BETWEEN ? AND ? "
            "AND price_source = 'message_row' AND priced GROUP BY 1 ORDER BY 1",
            [first_day, last_day],
        ).fetchall()
    print(f"Usage per model, {first_day} .. {last_day}:\n")
    print(
        markdown_table(
            ("provider", "model", "requests", "input", "output", "total", "cost", "currency"), rows, limit=40
        )
    )
    truth_tokens = sum(e.total_tokens for e in truth)
    truth_costs: Counter[str] = Counter()
    for e in truth:
        if e.priced:
            truth_costs[e.currency or "USD"] += e.cost
    better = {currency: amount for currency, _, amount in priced_from_row}
    truth_costs.update(better)
    exact = (
        events == len(truth)
        and int(tokens) == truth_tokens
        and all(costs.get(currency, Decimal(0)) == amount for currency, amount in truth_costs.items())
    )
    print(f"\nTotal: {events} LLM calls, {int(tokens):,} tokens, cost {amounts(costs)}.")
    if priced_from_row:
        print(
            f"Of that cost, {amounts(better)} is what the database knows better than the console: "
            f"{sum(count for _, count, _ in priced_from_row)} messages without usage metadata, priced from "
            "their row (the console calls them unpriced)."
        )
    print(
        f"Simulator ground truth: {len(truth)} calls, {truth_tokens:,} tokens -> "
        f"{'exact match' if exact else 'MISMATCH'}."
    )
    delivered = held.total_tokens == int(tokens) and all(
        held.cost_by_currency.get(c, Decimal(0)) == a for c, a in costs.items() if a
    )
    print(
        f"API_Meter holds {held.records} per-model records: {held.total_tokens:,} tokens, "
        f"cost {amounts(held.cost_by_currency)} -> "
        f"{'equal to the export' if delivered else 'DIFFERENT from the export'}."
    )
    print(f"\nDuckDB file: {store.path}")
    print(
        f"See the runs in the Dagster UI:  dify-meter demo --ui  (or DAGSTER_HOME={dagster_home} "
        f"dagster dev -w {dagster_home / 'workspace.yaml'})"
    )
    return 0 if exact and delivered else 1
