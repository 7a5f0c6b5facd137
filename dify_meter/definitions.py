"""The Dagster code location `dify_meter`: the one place its definitions are put together."""

import dagster as dg

from dify_meter.defs.aggregates import usage_per_app, usage_per_model, usage_per_user, usage_workspace
from dify_meter.defs.delivery import api_meter_sent
from dify_meter.defs.jobs import build_daily_job
from dify_meter.defs.raw import raw_usage_events
from dify_meter.defs.resources import DuckDBStoreResource, MeterSettingsResource
from dify_meter.defs.schedules import build_schedule
from dify_meter.defs.sensors import api_meter_replay_job, spool_replay_sensor
from dify_meter.settings import load_settings


@dg.definitions
def defs() -> dg.Definitions:
    settings = load_settings()
    daily_job = build_daily_job(settings)
    return dg.Definitions(
        assets=[raw_usage_events, usage_per_model, usage_per_user, usage_per_app, usage_workspace, api_meter_sent],
        jobs=[daily_job, api_meter_replay_job],
        schedules=[build_schedule(daily_job, settings)],
        sensors=[spool_replay_sensor],
        resources={"duckdb_store": DuckDBStoreResource(), "meter_settings": MeterSettingsResource()},
        # DuckDB allows one writing process per file: run every step of a run in one process.
        executor=dg.in_process_executor,
    )
