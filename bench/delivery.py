"""Delivery benchmark (issue 7): 10,000 per-model records sent to the reference API_Meter, which runs in
a process of its own (`dify-meter sandbox api-meter --port 0`, records in memory).

    python bench/delivery.py [--records 10000] [--batch-sizes 500,100,1000] [--repeat 3]

For each batch size, on a fresh server each time:
- the sender alone: `ApiMeterSender.send` of records built once (`build_records`), as fast as the
  wire, JSON and the server's validation allow;
- the real path: `deliver_window` over the same rows stored in usage_per_model of a DuckDB file (a
  fresh copy each time): read the rows and the ledger, plan, spool the days (write-ahead), send,
  write each batch to the ledger as API_Meter answers, resolve the spool. Then `deliver_window` once
  more with nothing changed (nothing to send: the ledger already says API_Meter holds these values).
The records are 100 days x 100 models (a backfill: a daily run sends one day's few dozen). Reported:
wall time (median of `--repeat`), requests, records per second, the client's and the server's CPU,
the body size, and where the real path spends its time on DuckDB connections.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from dify_meter import __version__
from dify_meter.api_meter.deliver import deliver_window
from dify_meter.api_meter.records import PerModelRow, build_records, build_request
from dify_meter.api_meter.sender import ApiMeterSender
from dify_meter.core.store import DuckDBStore
from dify_meter.defs.resources import build_resources
from dify_meter.sandbox.api_meter.server import DEFAULT_TENANT_ID
from dify_meter.settings import load_settings

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import format_table, machine_description  # noqa: E402
from _timed_store import TimedStore  # noqa: E402

DEFAULT_RECORDS = 10_000
DEFAULT_BATCH_SIZES = (500, 100, 1000)  # API_METER_BATCH_SIZE's default first
MODELS_PER_DAY = 100
FIRST_DAY = date(2025, 9, 1)
TIMEZONE = "UTC"
PROVIDERS = (
    "openai",
    "anthropic",
    "google",
    "bedrock",
    "azure_openai",
    "mistralai",
    "deepseek",
    "x",
    "cohere",
    "ollama",
)
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# --- the data -----------------------------------------------------------------------------------------


def per_model_rows(count: int) -> list[PerModelRow]:
    """`count` rows, MODELS_PER_DAY a day from FIRST_DAY on, with seeded values and exact decimal costs."""
    rng = random.Random(7)
    rows = []
    for index in range(count):
        day, slot = divmod(index, MODELS_PER_DAY)
        input_tokens, output_tokens = rng.randint(1_000, 50_000_000), rng.randint(100, 5_000_000)
        rows.append(
            PerModelRow(
                FIRST_DAY + timedelta(days=day),
                PROVIDERS[slot % len(PROVIDERS)],
                f"model-{slot:03d}",
                input_tokens,
                output_tokens,
                input_tokens + output_tokens,
                rng.randint(1, 200_000),
                Decimal(rng.randint(0, 10**13)).scaleb(-10),
                "USD",
            )
        )
    return rows


def store_rows(db: Path, rows: Sequence[PerModelRow]) -> None:
    """The rows as usage_per_model of a fresh DuckDB file, as the per_model aggregate asset leaves them."""
    built_at = datetime(2025, 12, 10, 1, 0, tzinfo=UTC)
    with DuckDBStore(db).connect() as conn:
        columns = list(
            zip(
                *[
                    (
                        row.usage_date,
                        row.provider,
                        row.model,
                        row.input_tokens,
                        row.output_tokens,
                        row.total_tokens,
                        row.request_count,
                        row.cost,
                        row.currency,
                        [f"{row.provider} / {row.model}"],
                    )
                    for row in rows
                ],
                strict=True,
            )
        )
        conn.execute(
            "INSERT INTO usage_per_model (usage_date, provider, model, publisher, input_tokens, output_tokens, "
            "total_tokens, request_count, cost, currency, currency_conflict, unpriced_events, approximate_events, "
            "raw_models, built_at) SELECT unnest(?::DATE[]), unnest(?::VARCHAR[]), unnest(?::VARCHAR[]), NULL, "
            "unnest(?::BIGINT[]), unnest(?::BIGINT[]), unnest(?::BIGINT[]), unnest(?::BIGINT[]), "
            "unnest(?::DECIMAL(38, 10)[]), unnest(?::VARCHAR[]), false, 0, 0, unnest(?::VARCHAR[][]), ?",
            [list(column) for column in columns] + [built_at],
        )
        conn.execute("CHECKPOINT")


# --- the server ---------------------------------------------------------------------------------------


class ApiMeterProcess:
    """`dify-meter sandbox api-meter --port 0` in its own process, with its CPU time from /proc."""

    def __init__(self) -> None:
        self.url = self.token = self.tenant_id = ""
        self._process: subprocess.Popen[str] | None = None

    def __enter__(self) -> ApiMeterProcess:
        command = [str(Path(sys.executable).parent / "dify-meter"), "sandbox", "api-meter", "--port", "0"]
        self._process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        assert self._process.stdout is not None
        settings: dict[str, str] = {}
        for line in self._process.stdout:
            name, _, value = line.strip().partition("=")
            if name.startswith("API_METER_"):
                settings[name] = value
            if line.startswith("#"):  # its last line, after the settings
                break
        if len(settings) != 3:
            raise RuntimeError(
                f"{' '.join(command)} exited with code {self._process.wait()} before printing "
                "API_METER_URL, API_METER_TOKEN and API_METER_TENANT_ID"
            )
        self.url, self.token = settings["API_METER_URL"], settings["API_METER_TOKEN"]
        self.tenant_id = settings["API_METER_TENANT_ID"]
        return self

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server process so far."""
        assert self._process is not None
        fields = Path(f"/proc/{self._process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime (fields 14, 15 of stat)

    def __exit__(self, *exc_info: object) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        process.send_signal(signal.SIGTERM)  # the CLI stops cleanly on SIGTERM
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --- measuring ----------------------------------------------------------------------------------------


@dataclass
class Measurement:
    wall: float
    client_cpu: float
    server_cpu: float
    requests: int
    delivered: int  # records API_Meter applied (inserted + updated)
    connections: dict[str, list[float]] | None = None  # DuckDB per caller: count, open, use, close seconds
    rerun_wall: float | None = None
    rerun_requests: int | None = None


def send_once(records: list[dict[str, Any]], batch_size: int) -> Measurement:
    with ApiMeterProcess() as server:
        sender = ApiMeterSender(
            server.url, server.token, server.tenant_id, exporter_version=__version__, batch_size=batch_size
        )
        server_cpu, client_cpu, began = server.cpu_seconds(), time.process_time(), time.perf_counter()
        report = sender.send(records)
        wall = time.perf_counter() - began
        measured = Measurement(
            wall,
            time.process_time() - client_cpu,
            server.cpu_seconds() - server_cpu,
            report.requests,
            report.inserted + report.updated,
        )
    if not report.ok:
        raise RuntimeError(f"API_Meter did not take every record at batch size {batch_size}")
    return measured


def deliver_once(stored: Path, folder: Path, batch_size: int, rows: int) -> Measurement:
    db = folder / f"deliver_{batch_size}.duckdb"
    shutil.copy(stored, db)
    last_day = FIRST_DAY + timedelta(days=(rows - 1) // MODELS_PER_DAY)
    with ApiMeterProcess() as server:
        settings = load_settings(
            api_meter_url=server.url,
            api_meter_token=server.token,
            api_meter_tenant_id=server.tenant_id,
            api_meter_batch_size=batch_size,
            dify_timezone=TIMEZONE,
            dify_meter_duckdb=str(db),
        )
        store = TimedStore(db)
        server_cpu, client_cpu, began = server.cpu_seconds(), time.process_time(), time.perf_counter()
        sender = build_resources(settings, secrets_from_env=False).api_meter.sender()
        outcome = deliver_window(sender, store, FIRST_DAY, last_day, timezone=settings.timezone, run_id="bench")
        wall = time.perf_counter() - began
        measured = Measurement(
            wall,
            time.process_time() - client_cpu,
            server.cpu_seconds() - server_cpu,
            outcome.report.requests if outcome.report else 0,
            (outcome.report.inserted + outcome.report.updated) if outcome.report else 0,
        )
        measured.connections = {
            caller: [t.connections, t.opening, t.using, t.closing] for caller, t in store.by_caller.items()
        }
        began = time.perf_counter()
        again = deliver_window(settings, store, FIRST_DAY, last_day, run_id="bench-again")
        measured.rerun_wall = time.perf_counter() - began
        measured.rerun_requests = again.report.requests if again.report else 0
    db.unlink()
    if not outcome.ok or len(outcome.plan.records) != rows:
        raise RuntimeError(f"deliver_window did not deliver all {rows} rows at batch size {batch_size}")
    return measured


def middle(runs: list[Measurement]) -> Measurement:
    """The run of median wall time (its other figures belong to the same run)."""
    return sorted(runs, key=lambda run: run.wall)[len(runs) // 2]


# --- the report ---------------------------------------------------------------------------------------


def _s(value: float) -> str:
    return f"{value:.3f}"


def print_report(
    records: list[dict[str, Any]],
    batch_sizes: Sequence[int],
    sent: dict[int, list[Measurement]],
    delivered: dict[int, list[Measurement]],
    repeat: int,
    load_before: float,
) -> None:
    print(f"\nMachine: {machine_description()}; 1-minute load average before the run: {load_before:.2f}")
    print(
        f"{len(records):,} per-model records ({MODELS_PER_DAY} models x {len(records) // MODELS_PER_DAY} days) "
        f"to `dify-meter sandbox api-meter` (its own process, records in memory); median of {repeat} runs, "
        "a fresh server each.\n"
    )
    rows = []
    for label, results in (("sender", sent), ("deliver_window", delivered)):
        for size in batch_sizes:
            run = middle(results[size])
            walls = [m.wall for m in results[size]]
            body = len(
                build_request(
                    records[:size],
                    tenant_id=DEFAULT_TENANT_ID,
                    exporter_version=__version__,
                    export_timestamp=datetime.now(UTC),
                )
            )
            rows.append(
                [
                    label,
                    size,
                    run.requests,
                    _s(run.wall),
                    f"{min(walls):.3f}..{max(walls):.3f}",
                    f"{len(records) / run.wall:,.0f}",
                    f"{1000 * run.wall / run.requests:.1f}",
                    f"{body / 1024:.0f}",
                    _s(run.client_cpu),
                    _s(run.server_cpu),
                    f"{run.delivered:,}",
                ]
            )
    print(
        format_table(
            [
                "path",
                "batch",
                "requests",
                "wall s",
                "min..max",
                "records/s",
                "ms/request",
                "KiB/request",
                "client CPU s",
                "server CPU s",
                "applied",
            ],
            rows,
        )
    )
    print(
        "\nThe real path's DuckDB connections, median run (open = connect + schema; close = checkpoint), and "
        "deliver_window once more with nothing changed:"
    )
    rows = []
    for size in batch_sizes:
        run = middle(delivered[size])
        assert run.connections is not None and run.rerun_wall is not None
        for caller, (count, opening, using, closing) in run.connections.items():
            rows.append([size, caller, int(count), _s(opening), _s(using), _s(closing)])
        rows.append([size, "deliver_window again: wall s, requests", "", _s(run.rerun_wall), run.rerun_requests, ""])
    print(format_table(["batch", "opened by", "connections", "open s", "in use s", "close s"], rows))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=DEFAULT_RECORDS, help="records to deliver (default %(default)s)")
    parser.add_argument(
        "--batch-sizes",
        default=",".join(map(str, DEFAULT_BATCH_SIZES)),
        help="comma-separated API_METER_BATCH_SIZE values (default %(default)s)",
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs per batch size and path (default %(default)s)")
    args = parser.parse_args(argv)
    try:
        batch_sizes = [int(size) for size in args.batch_sizes.split(",")]
    except ValueError:
        parser.error(
            f"--batch-sizes must be comma-separated whole numbers such as 500,100,1000, got {args.batch_sizes!r}"
        )
    if args.records < 1 or any(size < 1 for size in batch_sizes) or args.repeat < 1:
        parser.error("--records, every batch size and --repeat must be at least 1")

    load_before = os.getloadavg()[0]
    rows = per_model_rows(args.records)
    records = build_records(rows, tenant_id=DEFAULT_TENANT_ID, timezone=TIMEZONE)  # the server's tenant
    with tempfile.TemporaryDirectory(prefix="bench_delivery_") as tmp:
        folder = Path(tmp)
        stored = folder / "per_model.duckdb"
        store_rows(stored, rows)
        sent: dict[int, list[Measurement]] = {}
        delivered: dict[int, list[Measurement]] = {}
        for size in batch_sizes:
            print(f"batch size {size} ...", file=sys.stderr, flush=True)
            sent[size] = [send_once(records, size) for _ in range(args.repeat)]
            delivered[size] = [deliver_once(stored, folder, size, len(rows)) for _ in range(args.repeat)]
    print_report(records, batch_sizes, sent, delivered, args.repeat, load_before)
    return 0


if __name__ == "__main__":
    sys.exit(main())
