from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

import dagster as dg

from dify_meter.api_meter import spool
from dify_meter.api_meter.deliver import DeliveryOutcome, deliver_window, payload_preview, utc_now
from dify_meter.api_meter.plan import DeliveryPlan
from dify_meter.core.readable import day_range, sentence
from dify_meter.defs.metadata import add_per_partition, costs, days_of, table
from dify_meter.defs.resources import ApiMeterResource, DuckDBStoreResource, MeterResource
from dify_meter.usage.refresh import window_days

SPOOL_REPLAY_TAG = "dify_meter/spool_replay"


class DeliveryConfig(dg.Config):
    dry_run: bool = False  # write the exact payloads and the diff against the ledger; send nothing
    force: bool = False  # re-send keys whose values API_Meter already holds


def _metadata(outcome: DeliveryOutcome) -> dict[str, Any]:
    """The run's figures over its whole range: for the failure and the dry run (neither is a partition's)."""
    plan, report = outcome.plan, outcome.report
    sent = report.delivered_records if report else []
    metadata: dict[str, Any] = {
        "days": day_range(outcome.first_day, outcome.last_day),
        **_counts(plan, sent),
        "inserted": report.inserted if report else 0,
        "updated": report.updated if report else 0,
        "requests": report.requests if report else 0,
        "plan": dg.MetadataValue.md(plan.describe()),
    }
    costs(metadata, "cost_sent", _sent_costs(sent))
    if outcome.failed_days:
        metadata["failed_days"] = table(("day", "reason"), sorted(outcome.failed_days.items()))
    return metadata


def _counts(plan: DeliveryPlan, sent: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    return {
        "records_sent": len(sent),
        "new_keys": len(plan.new),
        "changed_keys": len(plan.changed),
        "zeroed_keys": len(plan.zeroed),
        "unchanged_keys": len(plan.unchanged),
        "held_back_keys": len(plan.held_back),
        "total_tokens_sent": sum(int(record["total_tokens"]) for record in sent),
    }


def _sent_costs(sent: Sequence[Mapping[str, Any]]) -> dict[str, Decimal]:
    by_currency: dict[str, Decimal] = {}
    for record in sent:
        by_currency[record["currency"]] = by_currency.get(record["currency"], Decimal(0)) + record["cost_actual"]
    return by_currency


def _day_metadata(outcome: DeliveryOutcome, day: date) -> dict[str, Any]:
    """One day's part of the delivery: what its partition's materialization says."""
    plan = outcome.plan
    on_day = DeliveryPlan(
        new=[p for p in plan.new if p.key.usage_date == day],
        changed=[p for p in plan.changed if p.key.usage_date == day],
        unchanged=[p for p in plan.unchanged if p.key.usage_date == day],
        zeroed=[p for p in plan.zeroed if p.key.usage_date == day],
        held_back=[key for key in plan.held_back if key.usage_date == day],
        records=[r for r in plan.records if r["usage_date"] == day.isoformat()],
        forced=plan.forced,
    )
    delivered = outcome.report.delivered_records if outcome.report else []
    sent = [record for record in delivered if record["usage_date"] == day.isoformat()]
    metadata: dict[str, Any] = {**_counts(on_day, sent), "plan": dg.MetadataValue.md(on_day.describe())}
    costs(metadata, "cost_sent", _sent_costs(sent))
    return metadata


def build_delivery_asset(partitions: dg.DailyPartitionsDefinition) -> dg.AssetsDefinition:
    return dg.asset(
        deps=["usage_per_model"],
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        group_name="api_meter",
        kinds={"api", "duckdb"},
        owners=["team:platform"],
        pool="duckdb",
        output_required=False,
        description=(
            "Per-model daily usage delivered to API_Meter (POST /v1/usage, upsert by tenant/provider/model/day). "
            "Sends only keys whose values changed since the last delivery (ledger `api_meter_ledger`), zeroes keys "
            "that disappeared, holds back keys with two currencies. A day is materialized only when all of it was "
            "delivered; failed days go to the spool (`api_meter_spool`) and are replayed by `spool_replay_sensor`. "
            "Config `dry_run: true` writes the payloads and the diff without sending; `force: true` re-sends all keys."
        ),
    )(api_meter_sent)


def api_meter_sent(
    context: dg.AssetExecutionContext,
    config: DeliveryConfig,
    meter: MeterResource,
    api_meter: ApiMeterResource,
    duckdb_store: DuckDBStoreResource,
):
    store = duckdb_store.store()
    window = context.partition_time_window
    first_day, last_day = window_days(window.start, window.end, meter.zone)
    sender = api_meter.sender()
    if context.run.tags.get(SPOOL_REPLAY_TAG) and not config.dry_run:
        with store.connect() as conn:
            for entry in spool.list_entries(conn, statuses=("pending",)):
                if first_day <= entry.usage_date <= last_day:
                    spool.mark_replay_attempt(conn, entry.usage_date, utc_now(), policy=api_meter.spool_policy())
    outcome = deliver_window(
        sender,
        store,
        first_day,
        last_day,
        timezone=meter.zone,
        force=config.force,
        dry_run=config.dry_run,
        run_id=context.run.run_id,
    )
    metadata = _metadata(outcome)
    if outcome.dry_run:
        context.log.info(
            f"Dry run: nothing sent. Payloads and diff written to {outcome.payload_file}\n{outcome.plan.describe()}"
        )
        metadata.update(
            {
                "dry_run": True,
                "payload_file": str(outcome.payload_file),
                "payload_preview": dg.MetadataValue.json(payload_preview(outcome)),
            }
        )
        context.log_event(dg.AssetObservation(asset_key=context.asset_key, metadata=metadata))
        return  # a dry run yields no materialization: nothing was delivered
    if outcome.ok:
        report = outcome.report
        context.log.info(
            f"Delivered {day_range(first_day, last_day)} in {report.requests if report else 0} "
            f"requests: {outcome.plan.describe(limit=20)}"
        )
        # The run's totals (requests, inserted, updated) belong to no one day: one observation of the run.
        context.log_event(dg.AssetObservation(asset_key=context.asset_key, metadata=metadata))
        add_per_partition(context, {day: _day_metadata(outcome, day) for day in days_of(first_day, last_day)})
        yield dg.MaterializeResult()
        return
    # The step fails, so no partition is materialized by the result: the delivered days get their own events.
    for day in outcome.delivered_days:
        context.log_event(
            dg.AssetMaterialization(
                asset_key=context.asset_key, partition=day.isoformat(), metadata=_day_metadata(outcome, day)
            )
        )
    failed = ", ".join(str(day) for day in outcome.failed_days)  # a list people and scripts grep
    reason = next(iter(outcome.failed_days.values()))
    raise dg.Failure(
        description=(
            f"API_Meter delivery failed for {failed}: {reason}\n"
            + (f"Delivered: {sentence(outcome.delivered_days)}.\n" if outcome.delivered_days else "")
            + (
                "This is permanent: fix the cause, then `dify-meter spool replay --date DAY`."
                if outcome.permanent
                else "The day is in the spool; spool_replay_sensor will retry it with backoff "
                "(`dify-meter spool list`)."
                if api_meter.max_retries
                else "The day is in the spool; MAX_RETRIES=0 allows no automatic replay: "
                "`dify-meter spool replay --date DAY` sends it again."
            )
        ),
        metadata=metadata,
        allow_retries=False,
    )
