from typing import Any

import dagster as dg

from dify_meter.core.readable import amounts, day_range, sentence
from dify_meter.defs.checks import check_result
from dify_meter.defs.metadata import add_per_partition, costs, days_of, table
from dify_meter.defs.resources import DifyResource, DuckDBStoreResource, MeterResource
from dify_meter.defs.tables import table_definition_metadata
from dify_meter.usage.checks import check_approximate_usage, check_apps_not_read, check_dify_numbers
from dify_meter.usage.raw_events import RawSummary, summarize_window
from dify_meter.usage.refresh import refresh_raw_usage


def build_raw_usage_asset(partitions: dg.DailyPartitionsDefinition) -> dg.AssetsDefinition:
    return dg.asset(
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        group_name="dify",
        kinds={"duckdb", "python"},
        owners=["team:platform"],
        pool="duckdb",
        metadata=table_definition_metadata("raw_usage_events"),
        check_specs=[
            dg.AssetCheckSpec(
                "dify_numbers",
                asset="raw_usage_events",
                description="Per app, tokens and cost against Dify's own statistics/token-costs.",
            ),
            dg.AssetCheckSpec(
                "approximate_usage",
                asset="raw_usage_events",
                description="Usage on an app's current model or skipped (DIFY_DETAIL_READS=never).",
            ),
            dg.AssetCheckSpec(
                "apps_not_read",
                asset="raw_usage_events",
                description="Apps of a mode this exporter does not know: named, with Dify's figures.",
            ),
        ],
        description=(
            "Every LLM call of the day as Dify reports it (one row per message or usage-bearing workflow "
            "node; see usage-semantics.md), read from the Dify console API or read-only from Dify's "
            "PostgreSQL (DIFY_SOURCE; each row's `read_from` says which) into DuckDB table "
            "`raw_usage_events`. A range run reads Dify once for the whole range. Re-materializing a day "
            "replaces its rows in one transaction, whichever source read them before; a failed fetch leaves "
            "them untouched."
        ),
    )(raw_usage_events)


def raw_usage_events(
    context: dg.AssetExecutionContext, meter: MeterResource, dify: DifyResource, duckdb_store: DuckDBStoreResource
) -> dg.MaterializeResult:
    window = context.partition_time_window
    store = duckdb_store.store()
    refresh = refresh_raw_usage(dify.usage_source(store), store, window.start, window.end, meter.zone)
    with store.connect() as conn:
        per_day = {day: summarize_window(conn, day, day) for day in days_of(refresh.first_day, refresh.last_day)}
        check_results = [
            check_result(
                "dify_numbers",
                check_dify_numbers(
                    conn, refresh.first_day, refresh.last_day, refresh.dify_totals, refresh.skipped_app_ids
                ),
            ),
            check_result(
                "approximate_usage",
                check_approximate_usage(
                    conn, refresh.first_day, refresh.last_day, refresh.dify_totals, refresh.skipped_app_ids
                ),
            ),
            check_result("apps_not_read", check_apps_not_read(refresh.read.skipped_apps, refresh.dify_totals)),
        ]
    summary, read = refresh.summary, refresh.read
    for warning in read.warnings:
        context.log.warning(warning)
    counts = sentence(f"{count} {name.replace('_', ' ')}" for name, count in read.counts.items())
    # What the read of Dify cost belongs to the run (one read for the whole range), not to any one day.
    context.log.info(
        f"{summary.events} usage events for {day_range(refresh.first_day, refresh.last_day)}: "
        f"{summary.total_tokens} tokens, cost {amounts(summary.cost_by_currency)}; read from Dify's {dify.source} "
        f"(Dify {read.dify_version or '?'}): "
        f"{read.apps_read} apps read ({len(read.skipped_apps)} skipped); {counts}; apps not read: "
        f"{sentence(f'{app.app_name} ({app.mode})' for app in read.skipped_apps if app.unread_usage)}"
    )
    add_per_partition(context, {day: _day_metadata(day_summary) for day, day_summary in per_day.items()})
    return dg.MaterializeResult(check_results=check_results)


def _day_metadata(summary: RawSummary) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "dagster/row_count": summary.events,
        "events": summary.events,
        "input_tokens": summary.input_tokens,
        "output_tokens": summary.output_tokens,
        "total_tokens": summary.total_tokens,
        "unpriced_events": summary.unpriced_events,
        "approximate_events": summary.approximate_events,
        "apps_with_usage": summary.apps,
        "read_from": sentence(f"{source} ({count} events)" for source, count in summary.read_from.items()),
        "priced_from_message_row": summary.priced_from_message_row,
        "per_app": table(["app", "mode", "events", "tokens"], summary.per_app),
    }
    costs(metadata, "cost", summary.cost_by_currency)
    return metadata
