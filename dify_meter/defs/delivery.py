from decimal import Decimal
from typing import Any

import dagster as dg

from dify_meter.api_meter import spool
from dify_meter.api_meter.deliver import DeliveryOutcome, deliver_window, payload_preview, utc_now
from dify_meter.defs.metadata import money, table
from dify_meter.defs.resources import ApiMeterResource, DuckDBStoreResource, MeterResource
from dify_meter.usage.refresh import window_days

SPOOL_REPLAY_TAG = "dify_meter/spool_replay"


class DeliveryConfig(dg.Config):
    dry_run: bool = False  # write the exact payloads and the diff against the ledger; send nothing
    force: bool = False  # re-send keys whose values API_Meter already holds


def _metadata(outcome: DeliveryOutcome) -> dict[str, Any]:
    plan, report = outcome.plan, outcome.report
    sent = report.delivered_records if report else []
    metadata: dict[str, Any] = {
        "days": f"{outcome.first_day} .. {outcome.last_day}",
        "records_sent": len(sent),
        "new_keys": len(plan.new),
        "changed_keys": len(plan.changed),
        "zeroed_keys": len(plan.zeroed),
        "unchanged_keys": len(plan.unchanged),
        "held_back_keys": len(plan.held_back),
        "inserted": report.inserted if report else 0,
        "updated": report.updated if report else 0,
        "requests": report.requests if report else 0,
        "total_tokens_sent": sum(int(record["total_tokens"]) for record in sent),
        "plan": dg.MetadataValue.md(plan.describe()),
    }
    costs: dict[str, Decimal] = {}
    for record in sent:
        costs[record["currency"]] = costs.get(record["currency"], Decimal(0)) + record["cost_actual"]
    for currency, cost in costs.items():
        metadata[f"cost_sent_{currency}"] = money(cost)
    if outcome.failed_days:
        metadata["failed_days"] = table(("day", "reason"), sorted(outcome.failed_days.items()))
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
    outcome = deliver_window(sender, store, first_day, last_day, timezone=meter.zone, force=config.force,
                             dry_run=config.dry_run, run_id=context.run.run_id)
    metadata = _metadata(outcome)
    if outcome.dry_run:
        context.log.info(f"Dry run: nothing sent. Payloads and diff written to {outcome.payload_file}\n"
                         f"{outcome.plan.describe()}")
        metadata.update({"dry_run": True, "payload_file": str(outcome.payload_file),
                         "payload_preview": dg.MetadataValue.json(payload_preview(outcome))})
        context.log_event(dg.AssetObservation(asset_key=context.asset_key, metadata=metadata))
        return  # a dry run yields no materialization: nothing was delivered
    if outcome.ok:
        context.log.info(f"Delivered {first_day}..{last_day}: {outcome.plan.describe(limit=20)}")
        yield dg.MaterializeResult(metadata=metadata)
        return
    for day in outcome.delivered_days:
        context.log_event(dg.AssetMaterialization(asset_key=context.asset_key, partition=day.isoformat(),
                                                  metadata={"delivered": True, "run_part_of": metadata["days"]}))
    failed = ", ".join(str(day) for day in outcome.failed_days)
    reason = next(iter(outcome.failed_days.values()))
    raise dg.Failure(
        description=(
            f"API_Meter delivery failed for {failed}: {reason}\n"
            + (f"Delivered: {', '.join(str(d) for d in outcome.delivered_days)}.\n" if outcome.delivered_days else "")
            + ("This is permanent: fix the cause, then `dify-meter spool replay --date DAY`."
               if outcome.permanent else
               "The day is in the spool; spool_replay_sensor will retry it with backoff (`dify-meter spool list`)."
               if api_meter.max_retries else
               "The day is in the spool; MAX_RETRIES=0 allows no automatic replay: "
               "`dify-meter spool replay --date DAY` sends it again.")
        ),
        metadata=metadata,
        allow_retries=False,
    )
