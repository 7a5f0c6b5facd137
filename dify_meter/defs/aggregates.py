from typing import Any

import dagster as dg

from dify_meter.core.readable import amounts
from dify_meter.defs.alerts import alert_failed_checks
from dify_meter.defs.checks import check_result
from dify_meter.defs.metadata import add_per_partition, costs, days_of, table
from dify_meter.defs.resources import DuckDBStoreResource, MeterResource, MeterSettingsResource
from dify_meter.defs.tables import column_lineage_from_raw, table_definition_metadata
from dify_meter.usage import checks
from dify_meter.usage.aggregate_modes import AGGREGATE_TABLES, AggregateMode
from dify_meter.usage.aggregates import AggregateSummary, rebuild_aggregate, summarize_aggregate
from dify_meter.usage.refresh import window_days

DESCRIPTIONS: dict[str, str] = {
    "per_model": "Daily usage per (normalized provider, model): the rows delivered to API_Meter. Provider and "
    "model are normalized before grouping, so `openai` and `langgenius/openai/openai` make one row.",
    "per_user": "Daily usage per (user type, user id, currency): end users by session id, console accounts by id. "
    "Local only (DuckDB and logs).",
    "per_app": "Daily usage per (app, currency), with the app's name and mode. Local only.",
    "workspace": "Daily usage of the whole workspace per currency. Local only.",
}

# Blocking: a failure would corrupt what is sent downstream. The currency check is not blocking:
# only the conflicting keys are held back, the rest of the day is delivered.
COMMON_CHECKS = {"conservation": True, "key_uniqueness": True, "token_arithmetic": True}
PER_MODEL_CHECKS = {**COMMON_CHECKS, "normalization": True, "currency": False, "unpriced_usage": False}


def _run_checks(conn, mode: AggregateMode, first_day, last_day, normalizer) -> dict[str, checks.CheckOutcome]:
    outcomes = {
        "conservation": checks.check_conservation(conn, mode, first_day, last_day),
        "key_uniqueness": checks.check_key_uniqueness(conn, mode, first_day, last_day),
        "token_arithmetic": checks.check_token_arithmetic(conn, mode, first_day, last_day),
    }
    if mode == "per_model":
        outcomes["normalization"] = checks.check_normalization(conn, first_day, last_day, normalizer)
        outcomes["currency"] = checks.check_currency(conn, first_day, last_day)
        outcomes["unpriced_usage"] = checks.check_unpriced(conn, first_day, last_day, normalizer)
    return outcomes


def _day_metadata(summary: AggregateSummary) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "dagster/row_count": summary.rows,
        "dagster/column_lineage": column_lineage_from_raw(summary.table),
        "rows": summary.rows,
        "request_count": summary.events,
        "input_tokens": summary.input_tokens,
        "output_tokens": summary.output_tokens,
        "total_tokens": summary.total_tokens,
        "unpriced_events": summary.unpriced_events,
        "approximate_events": summary.approximate_events,
        **{f"distinct_{label}": count for label, count in summary.distinct.items()},
        "top_rows": table(summary.preview_columns, summary.preview),
    }
    costs(metadata, "cost", summary.cost_by_currency)
    return metadata


def build_aggregate_asset(mode: AggregateMode, partitions: dg.DailyPartitionsDefinition) -> dg.AssetsDefinition:
    name = AGGREGATE_TABLES[mode]
    check_names = PER_MODEL_CHECKS if mode == "per_model" else COMMON_CHECKS

    @dg.asset(
        name=name,
        deps=["raw_usage_events"],
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        group_name="usage",
        kinds={"duckdb", "sql"},
        owners=["team:platform"],
        pool="duckdb",
        description=f"{DESCRIPTIONS[mode]} DuckDB table `{name}`, rebuilt from raw_usage_events for the "
        "window in one transaction; exact DECIMAL money; weekly and monthly roll-ups as views "
        f"`{name}_weekly` / `{name}_monthly`.",
        metadata=table_definition_metadata(name),
        check_specs=[
            dg.AssetCheckSpec(check, asset=name, blocking=blocking) for check, blocking in check_names.items()
        ],
    )
    def aggregate(
        context: dg.AssetExecutionContext,
        meter: MeterResource,
        duckdb_store: DuckDBStoreResource,
        meter_settings: MeterSettingsResource,
    ) -> dg.MaterializeResult:
        normalizer = meter.normalizer()
        window = context.partition_time_window
        first_day, last_day = window_days(window.start, window.end, meter.zone)
        with duckdb_store.store().connect() as conn:
            summary = rebuild_aggregate(conn, mode, first_day, last_day, normalizer)
            per_day = {day: summarize_aggregate(conn, mode, day, day) for day in days_of(first_day, last_day)}
            outcomes = _run_checks(conn, mode, first_day, last_day, normalizer)
        alert_failed_checks(meter_settings.load(), name, first_day, last_day, context.run.run_id, outcomes)
        check_results = [check_result(check, outcome) for check, outcome in outcomes.items()]
        context.log.info(
            f"{name} {first_day}..{last_day}: {summary.rows} rows, {summary.events} requests, "
            f"{summary.total_tokens} tokens, cost {amounts(summary.cost_by_currency)}"
        )
        add_per_partition(context, {day: _day_metadata(summary) for day, summary in per_day.items()})
        return dg.MaterializeResult(check_results=check_results)

    return aggregate


def build_aggregate_assets(partitions: dg.DailyPartitionsDefinition) -> list[dg.AssetsDefinition]:
    return [build_aggregate_asset(mode, partitions) for mode in ("per_model", "per_user", "per_app", "workspace")]
