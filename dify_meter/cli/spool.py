"""`dify-meter spool list | replay [--date D] | drop --date D`: see and act on failed deliveries."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from dify_meter.api_meter import spool
from dify_meter.cli.args import day_argument
from dify_meter.core.markdown import markdown_table
from dify_meter.core.store import StoreError
from dify_meter.defs.resources import MeterResources, build_resources
from dify_meter.settings import Settings


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "spool",
        help="see and act on days whose delivery to API_Meter failed",
        description="The spool (DuckDB table api_meter_spool) holds days whose delivery "
        "failed. spool_replay_sensor retries pending days with backoff; failed days "
        "wait for a person.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="show pending and failed days (--all: resolved ones too)")
    listing.add_argument("--all", action="store_true", help="include resolved entries")
    listing.set_defaults(handler=list_spool)
    replay = actions.add_parser("replay", help="re-send a day (or every open day) to API_Meter now")
    replay.add_argument("--date", type=day_argument, help="the day to replay (default: every pending or failed day)")
    replay.set_defaults(handler=replay_spool)
    dropping = actions.add_parser("drop", help="forget a day's entry (its data stays in DuckDB)")
    dropping.add_argument("--date", type=day_argument, required=True, help="the day whose entry to drop")
    dropping.set_defaults(handler=drop_spool)


def _resources(settings: Settings) -> MeterResources:
    return build_resources(settings)


def _entries(settings: Settings, statuses: tuple[spool.SpoolStatus, ...]) -> list[spool.SpoolEntry]:
    resources = _resources(settings)
    store = resources.duckdb_store.store()
    if not store.path.exists():
        return []
    with store.connect() as conn:
        # Bring the states up to date first (the sensor only reads): entries superseded by a later
        # delivery are resolved, entries out of automatic replays are failed.
        spool.due_entries(conn, datetime.now(UTC), policy=resources.api_meter.spool_policy())
        return spool.list_entries(conn, statuses=statuses)


def list_spool(args: argparse.Namespace) -> int:
    entries = _entries(args.settings, ("pending", "failed", "resolved") if args.all else ("pending", "failed"))
    if not entries:
        print("The spool is empty: every delivered day reached API_Meter.")
        return 0
    rows = [
        (
            e.usage_date,
            e.status,
            e.attempts,
            e.next_attempt_at.strftime("%Y-%m-%d %H:%M UTC") if e.next_attempt_at else "-",
            e.http_status or "-",
            ((e.resolution or "") if e.status == "resolved" else e.last_error)[:160],
        )
        for e in entries
    ]
    print(
        markdown_table(("day", "status", "replays", "next attempt", "HTTP", "last error / resolution"), rows, limit=500)
    )
    return 0


def replay_spool(args: argparse.Namespace) -> int:
    from dify_meter.defs.code_location import build_definitions
    from dify_meter.defs.delivery import SPOOL_REPLAY_TAG
    from dify_meter.defs.runs import fail_stale_runs_in_dagster_home, failure_message, materialize

    store = _resources(args.settings).duckdb_store.store()
    definitions = build_definitions(args.settings)
    open_days = [e.usage_date for e in _entries(args.settings, ("pending", "failed"))]
    days = [args.date] if args.date else open_days
    if not days:
        print("Nothing to replay: the spool has no pending or failed day.")
        return 0
    # A run killed mid-send (the reason a day is in the spool) keeps its DuckDB pool slot: the replay would wait
    # for it forever.
    for run_id in fail_stale_runs_in_dagster_home(definitions).failed:
        print(
            f"Run {run_id} was still marked in progress but its process is gone: marked failed, its DuckDB slot freed."
        )
    failures = 0
    for day in days:
        if day in open_days:
            with store.connect() as conn:
                spool.requeue(conn, day, datetime.now(UTC))
        # The outcome is printed below; Dagster's own console lines would bury it.
        result = materialize(
            definitions, ["api_meter_sent"], day, day, tags={SPOOL_REPLAY_TAG: "true"}, on_event=lambda _: None
        )
        if result.success:
            print(f"{day}: delivered (run {result.run_id})")
        else:
            failures += 1
            print(f"{day}: still failing (run {result.run_id})\n{failure_message(result)}")
    return 1 if failures else 0


def drop_spool(args: argparse.Namespace) -> int:
    try:
        with _resources(args.settings).duckdb_store.store().connect() as conn:
            dropped = spool.drop(conn, args.date)
    except StoreError as exc:
        print(f"dify-meter spool drop: {exc}")
        return 1
    print(f"{args.date}: entry dropped." if dropped else f"{args.date}: no spool entry.")
    return 0 if dropped else 1
