"""Everything the code location defines, built from one settings object: by `dify_meter.definitions` from
the environment, by the CLI from the settings it read."""

import dagster as dg

from dify_meter.defs.aggregates import build_aggregate_assets
from dify_meter.defs.alerts import alert_on_run_failure, spool_exhausted_alert_sensor
from dify_meter.defs.deadline import delivery_deadline_sensor
from dify_meter.defs.delivery import build_delivery_asset
from dify_meter.defs.jobs import build_daily_job
from dify_meter.defs.partitions import build_partitions
from dify_meter.defs.raw import build_raw_usage_asset
from dify_meter.defs.resources import build_resources
from dify_meter.defs.schedules import build_schedule
from dify_meter.defs.sensors import api_meter_replay_job, build_spool_replay_sensor
from dify_meter.settings import Settings


def build_definitions(settings: Settings) -> dg.Definitions:
    """Partitions, assets, jobs, schedule, sensor and resources, all from `settings`."""
    partitions = build_partitions(settings)
    daily_job = build_daily_job(settings)
    return dg.Definitions(
        assets=[
            build_raw_usage_asset(partitions),
            *build_aggregate_assets(partitions),
            build_delivery_asset(partitions),
        ],
        jobs=[daily_job, api_meter_replay_job],
        schedules=[build_schedule(daily_job, settings)],
        sensors=[
            build_spool_replay_sensor(partitions),
            alert_on_run_failure,
            spool_exhausted_alert_sensor,
            delivery_deadline_sensor,
        ],
        resources=build_resources(settings).by_key(),
        # DuckDB allows one writing process per file: run every step of a run in one process.
        executor=dg.in_process_executor,
    )
