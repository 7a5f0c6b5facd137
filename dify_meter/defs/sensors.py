import dagster as dg

from dify_meter.api_meter import spool
from dify_meter.api_meter.deliver import utc_now
from dify_meter.core.store import StoreError
from dify_meter.defs.delivery import SPOOL_REPLAY_TAG
from dify_meter.defs.resources import ApiMeterResource, DuckDBStoreResource
from dify_meter.defs.runs import fail_stale_runs

api_meter_replay_job = dg.define_asset_job(
    "api_meter_replay_job",
    selection=["api_meter_sent"],
    description="Re-sends one day to API_Meter from the current usage_per_model rows (requested by the spool sensor).",
)


def build_spool_replay_sensor(partitions: dg.DailyPartitionsDefinition) -> dg.SensorDefinition:
    @dg.sensor(
        name="spool_replay_sensor",
        job=api_meter_replay_job,
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Replays days whose delivery to API_Meter failed (DuckDB table api_meter_spool) once their "
        "backoff is due, at most MAX_RETRIES times; then the entry becomes failed and waits for a person.",
    )
    def spool_replay_sensor(
        context: dg.SensorEvaluationContext, duckdb_store: DuckDBStoreResource, api_meter: ApiMeterResource
    ) -> dg.SensorResult | dg.SkipReason:
        policy = api_meter.spool_policy()
        # The daemon cannot tell that a run's process was killed (kill -9): such a run would keep its DuckDB
        # pool slot and block every replay and scheduled run. Each tick fails them and frees the slot.
        job_names = {job.name for job in context.repository_def.get_all_jobs()} if context.repository_def else None
        stale = fail_stale_runs(context.instance, job_names)
        if stale.failed:
            context.log.warning(f"marked failed runs whose process is gone: {', '.join(stale.failed)}")
        try:
            # Read-only and closed at once: a run holding the write lock makes this tick a skip, not an error.
            with duckdb_store.store().connect_read_only() as conn:
                due = spool.due_for_replay(conn, utc_now(), policy=policy)
        except StoreError as exc:
            return dg.SkipReason(f"spool not readable now ({exc}); will look again next tick")
        partition_keys = set(partitions.get_partition_keys())
        requests = [
            dg.RunRequest(
                # A run key is never reused, even after a failed run: the attempt number makes each replay new.
                run_key=f"spool-replay:{entry.usage_date}:{entry.attempts + 1}",
                partition_key=entry.usage_date.isoformat(),
                tags={SPOOL_REPLAY_TAG: "true", "dify_meter/spool_attempt": str(entry.attempts + 1)},
            )
            for entry in due
            if entry.usage_date.isoformat() in partition_keys
        ]
        if not requests:
            return dg.SkipReason("no spool entry is due")
        context.log.info(f"replaying {', '.join(r.partition_key or '' for r in requests)}")
        return dg.SensorResult(run_requests=requests)

    return spool_replay_sensor
