"""`dify-meter export`: one Dagster run over a range of days (Dify read once), then a readable summary.

The run goes through the Dagster instance in DAGSTER_HOME (`runner.materialize`), so it shows in the UI
like a scheduled one. Bad dates, modes and periods are usage errors (exit 2); a failed run is exit 1.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from dify_meter.cli.args import day_argument
from dify_meter.cli.export_summary import (
    delivery_summary,
    held_back_keys,
    spooled_days,
    usage_table,
    usage_totals,
)
from dify_meter.cli.main import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from dify_meter.cli.progress import RunProgress
from dify_meter.core.store import DuckDBStore, StoreError
from dify_meter.settings import DIFY_SOURCES, Settings
from dify_meter.sources.database.errors import describe_target
from dify_meter.usage.aggregate_modes import AGGREGATE_TABLES

MODES = ("per_model", "per_user", "per_app", "workspace", "all")
PERIODS = ("daily", "weekly", "monthly")
LONG_RANGE_DAYS = 31


class ExportUsageError(ValueError):
    """The command line asks for something that cannot be exported; the message says what and why."""


@dataclass(frozen=True)
class ExportRequest:
    mode: str
    period: str
    first_day: date
    last_day: date
    dry_run: bool = False
    force: bool = False

    @property
    def days(self) -> int:
        return (self.last_day - self.first_day).days + 1


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "export",
        help="read a range of days from Dify, aggregate them, deliver per-model usage to API_Meter",
        description="One Dagster run over the range (recorded in DAGSTER_HOME, visible in the UI): Dify is read "
        "once for all the days, the aggregates of --mode are rebuilt, and per_model usage is delivered to "
        "API_Meter (only keys whose values changed). Ends with a summary table. Exit 0 on success, 1 when the "
        "run failed, 2 for bad arguments or configuration.",
        epilog="Without dates: DIFY_START_DATE..DIFY_END_DATE, each defaulting to the previous month. Days are "
        "calendar days in DIFY_TIMEZONE.",
    )
    parser.add_argument(
        "--mode",
        choices=MODES,
        help="aggregates to build (default DIFY_OUTPUT_MODE); only per_model and all deliver to API_Meter",
    )
    parser.add_argument("--date", type=day_argument, help="export this one day (YYYY-MM-DD)")
    parser.add_argument("--start-date", type=day_argument, help="first day of the range (inclusive); needs --end-date")
    parser.add_argument(
        "--end-date", type=day_argument, help="last day of the range (inclusive), at the latest yesterday"
    )
    parser.add_argument(
        "--period",
        choices=PERIODS,
        help="period of the summary table (default DIFY_AGGREGATION_PERIOD); API_Meter always receives daily records",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="send nothing: show what would change in API_Meter and write the exact payload to a file",
    )
    parser.add_argument("--force", action="store_true", help="send every key again, also those API_Meter holds")
    parser.add_argument(
        "--source",
        choices=DIFY_SOURCES,
        help="read Dify's console API or, read-only, its PostgreSQL (default DIFY_SOURCE); a day read before "
        "from the other source is replaced, never doubled",
    )
    parser.set_defaults(handler=run_export)


def export_request(args: argparse.Namespace, settings: Settings, today: date) -> ExportRequest:
    """The export the arguments ask for, with the defaults of `settings`; raises ExportUsageError."""
    ranged = args.start_date is not None or args.end_date is not None
    if args.date is not None and ranged:
        raise ExportUsageError("give either --date D or --start-date A --end-date B, not both")
    if args.date is not None:
        first, last, first_name, last_name = args.date, args.date, "--date", "--date"
    elif ranged:
        if args.start_date is None or args.end_date is None:
            raise ExportUsageError("give both --start-date and --end-date (or --date D for one day)")
        first, last, first_name, last_name = args.start_date, args.end_date, "--start-date", "--end-date"
    else:
        first, last = settings.default_export_range(today)
        first_name = "DIFY_START_DATE" if settings.dify_start_date else "the default range (previous month)"
        last_name = "DIFY_END_DATE" if settings.dify_end_date else "the default range (previous month)"
    if first > last:
        raise ExportUsageError(f"{first_name} {first} is after {last_name} {last}")
    if first < settings.dify_partitions_start:
        raise ExportUsageError(
            f"{first_name} {first} is before DIFY_PARTITIONS_START ({settings.dify_partitions_start}): there is "
            "no partition for it. Pick a later day, or set DIFY_PARTITIONS_START earlier."
        )
    if last >= today:
        raise ExportUsageError(
            f"{last_name} {last} is today or later in {settings.dify_timezone}: its partition exists only once "
            f"the day is over. The latest day to export is {today - timedelta(days=1)}."
        )
    return ExportRequest(
        args.mode or settings.dify_output_mode,
        args.period or settings.dify_aggregation_period,
        first,
        last,
        dry_run=args.dry_run,
        force=args.force,
    )


def run_export(args: argparse.Namespace) -> int:
    settings = args.settings
    if args.source is not None:
        settings = settings.model_copy(update={"dify_source": args.source})
    return _checked_export(args, settings)


def export_from_defaults(settings: Settings) -> int:
    """`dify-meter export` without arguments: the default range, mode and period of `settings`."""
    defaults = argparse.Namespace(
        mode=None, date=None, start_date=None, end_date=None, period=None, dry_run=False, force=False, source=None
    )
    return _checked_export(defaults, settings)


def _checked_export(args: argparse.Namespace, settings: Settings) -> int:
    try:
        request = export_request(args, settings, datetime.now(settings.timezone).date())
    except ExportUsageError as exc:
        print(f"dify-meter export: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return export(request, settings)


def export(request: ExportRequest, settings: Settings) -> int:
    """Run the export and print its summary; the exit code."""
    from dify_meter.defs.code_location import build_definitions
    from dify_meter.defs.jobs import OUTPUT_MODE_ASSETS
    from dify_meter.defs.resources import build_resources
    from dify_meter.defs.runs import (
        asset_metadata,
        fail_stale_runs_in_dagster_home,
        failure_message,
        materialize,
        materialized_assets,
    )

    selection = OUTPUT_MODE_ASSETS[request.mode]
    delivers = "api_meter_sent" in selection
    settings.require_dify()
    if delivers:
        settings.require_api_meter()
    _announce(request, selection, settings)
    definitions = build_definitions(settings)
    stale = fail_stale_runs_in_dagster_home(definitions)
    for run_id in stale.failed:
        print(
            f"Run {run_id} was still marked in progress but its process is gone: marked failed, its DuckDB slot freed."
        )
    if stale.alive:
        print(f"Run {', '.join(stale.alive)} is in progress: this export waits for it (one DuckDB writer at a time).")

    store = build_resources(settings).duckdb_store.store()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    try:
        progress = RunProgress(store.path.parent / "logs" / f"export-{stamp}.log", sys.stdout)
    except OSError as exc:  # the log goes next to the DuckDB file: its folder cannot be created or written
        print(
            f"dify-meter export: cannot write the run log next to DuckDB file {store.path} ({exc}). Check "
            "DIFY_METER_DUCKDB: its folder must be creatable and writable.",
            file=sys.stderr,
        )
        return EXIT_USAGE
    delivery_config = {"dry_run": request.dry_run, "force": request.force}
    run_config = {"ops": {"api_meter_sent": {"config": delivery_config}}} if delivers else None
    try:
        with progress.capturing_python_logs():
            result = materialize(
                definitions, selection, request.first_day, request.last_day, run_config=run_config, on_event=progress
            )
    finally:
        progress.close()
    if progress.log_error is not None:
        print(
            f"Warning: the run log {progress.log_path} is incomplete, it could not be written: "
            f"{progress.log_error.strerror or progress.log_error}.",
            file=sys.stderr,
        )

    print()
    _print_usage(store, request, materialized_assets(result))
    if delivers:
        _print_delivery(store, request, asset_metadata(result, "api_meter_sent"))
    else:
        print(f"API_Meter: nothing sent; mode {request.mode} is local only (only per_model usage is delivered).")
    where = (
        f"Full log: {progress.log_path}\nDagster UI: DAGSTER_HOME={_dagster_home()} dagster dev -w "
        f"workspace.yaml (run {result.run_id})"
    )
    if not result.success:
        print(f"\nThe run failed.\n{_short(failure_message(result))}\n{where}", file=sys.stderr)
        return EXIT_FAILED
    print(f"\nDone: run {result.run_id} succeeded. DuckDB file: {store.path}\n{where}")
    return EXIT_OK


def _announce(request: ExportRequest, selection: list[str], settings: Settings) -> None:
    what = f"{request.first_day}" if request.days == 1 else f"{request.first_day} .. {request.last_day}"
    print(
        f"Exporting {what} ({request.days} day{'s' if request.days > 1 else ''}, {settings.dify_timezone}), "
        f"mode {request.mode}: {', '.join(selection)}, in one Dagster run (Dify is read once for the range, "
        f"{_source_description(settings)})."
    )
    if "api_meter_sent" in selection:
        print(
            f"API_Meter: {settings.api_meter_url} tenant {settings.api_meter_tenant_id}"
            + (" (dry run: nothing is sent)" if request.dry_run else "")
            + (" (--force: every key is sent again)" if request.force else "")
        )
    if request.days > LONG_RANGE_DAYS:
        print(f"{request.days} days: reading Dify may take several minutes; progress is shown per phase.")


def _source_description(settings: Settings) -> str:
    if settings.dify_source == "database" and settings.dify_database_url is not None:
        return f"read-only from Dify's PostgreSQL {describe_target(settings.dify_database_url.get_secret_value())}"
    return f"through the console API {settings.dify_api_url}"


def _print_usage(store: DuckDBStore, request: ExportRequest, materialized: set[str]) -> None:
    """The tables this run rebuilt; one it did not rebuild may hold older numbers, so it is not shown."""
    modes = list(AGGREGATE_TABLES) if request.mode == "all" else [request.mode]
    try:
        with store.connect_read_only(wait_seconds=10) as conn:
            for mode in modes:
                if AGGREGATE_TABLES[mode] not in materialized:
                    print(f"{AGGREGATE_TABLES[mode]} was not rebuilt: the run failed before it.\n")
                    continue
                print(usage_table(conn, mode, request.period, request.first_day, request.last_day))
                print(f"Total: {usage_totals(conn, mode, request.first_day, request.last_day).describe()}.\n")
    except StoreError as exc:
        print(f"No usage to show: {exc}\n")


def _print_delivery(store: DuckDBStore, request: ExportRequest, delivery: dict) -> None:
    try:
        with store.connect_read_only(wait_seconds=10) as conn:
            held = held_back_keys(conn, request.first_day, request.last_day)
            spooled = spooled_days(conn, request.first_day, request.last_day)
    except StoreError:
        held, spooled = [], []
    text = delivery_summary(delivery, held_back=held, spooled=spooled, force=request.force)
    print(text or "API_Meter: nothing was delivered (the delivery step did not run).")


def _short(message: str, lines: int = 4) -> str:
    """The first lines of a failure: enough to say why; the log file has the rest."""
    kept = [line for line in message.splitlines() if line.strip()]
    return "\n".join(kept[:lines]) + ("\n…" if len(kept) > lines else "")


def _dagster_home() -> Path:
    from dify_meter.defs.instance import ensure_dagster_home

    return ensure_dagster_home()
