from typing import Any

import dagster as dg

from dify_meter.defs.checks import check_result
from dify_meter.defs.metadata import money, table
from dify_meter.defs.resources import DifyResource, DuckDBStoreResource, MeterResource
from dify_meter.usage.checks import check_approximate_usage, check_apps_not_read, check_dify_numbers
from dify_meter.usage.refresh import refresh_raw_usage


def build_raw_usage_asset(partitions: dg.DailyPartitionsDefinition) -> dg.AssetsDefinition:
    return dg.asset(
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        group_name="dify",
        kinds={"duckdb", "python"},
        owners=["team:platform"],
        pool="duckdb",
        check_specs=[
            dg.AssetCheckSpec("dify_numbers", asset="raw_usage_events",
                              description="Per app, tokens and cost against Dify's own statistics/token-costs."),
            dg.AssetCheckSpec("approximate_usage", asset="raw_usage_events",
                              description="Usage on an app's current model or skipped (DIFY_DETAIL_READS=never)."),
            dg.AssetCheckSpec("apps_not_read", asset="raw_usage_events",
                              description="Apps of a mode this exporter does not know: named, with Dify's figures."),
        ],
        description=(
            "Every LLM call of the day as Dify reports it (one row per message or usage-bearing workflow "
            "node; see usage-semantics.md), read from the Dify console API into DuckDB table "
            "`raw_usage_events`. A range run reads Dify once for the whole range. Re-materializing a day "
            "replaces its rows in one transaction; a failed fetch leaves them untouched."
        ),
    )(raw_usage_events)


def raw_usage_events(
    context: dg.AssetExecutionContext, meter: MeterResource, dify: DifyResource, duckdb_store: DuckDBStoreResource
) -> dg.MaterializeResult:
    window = context.partition_time_window
    store = duckdb_store.store()
    refresh = refresh_raw_usage(dify.usage_source(store), store, window.start, window.end, meter.zone)
    with store.connect() as conn:
        check_results = [
            check_result("dify_numbers", check_dify_numbers(
                conn, refresh.first_day, refresh.last_day, refresh.dify_totals, refresh.skipped_app_ids)),
            check_result("approximate_usage", check_approximate_usage(
                conn, refresh.first_day, refresh.last_day, refresh.dify_totals, refresh.skipped_app_ids)),
            check_result("apps_not_read", check_apps_not_read(refresh.read.skipped_apps, refresh.dify_totals)),
        ]
    summary, read = refresh.summary, refresh.read
    for warning in read.warnings:
        context.log.warning(warning)
    counts = ", ".join(f"{count} {name.replace('_', ' ')}" for name, count in read.counts.items())
    context.log.info(
        f"{summary.events} usage events for {refresh.first_day}..{refresh.last_day}: {summary.total_tokens} tokens"
        + (f"; {counts}" if counts else "")
    )
    metadata: dict[str, Any] = {
        "days": f"{refresh.first_day} .. {refresh.last_day}",
        "events": summary.events,
        "input_tokens": summary.input_tokens,
        "output_tokens": summary.output_tokens,
        "total_tokens": summary.total_tokens,
        "unpriced_events": summary.unpriced_events,
        "approximate_events": summary.approximate_events,
        "apps_read": read.apps_read,
        "apps_with_usage": summary.apps,
        **read.counts,
        "dify_version": read.dify_version or "unknown",
        "apps_not_read": ", ".join(f"{app.app_name} ({app.mode})" for app in read.skipped_apps if app.unread_usage)
        or "none",
        "per_app": table(["app", "mode", "events", "tokens"], summary.per_app),
    }
    for currency, cost in summary.cost_by_currency.items():
        metadata[f"cost_{currency}"] = money(cost)
    if len(summary.per_day) > 1:
        metadata["per_day"] = table(["day", "events", "tokens"], summary.per_day, limit=62)
    return dg.MaterializeResult(metadata=metadata, check_results=check_results)
