from datetime import date, timedelta

import dagster as dg

# define_asset_job returns this type; dagster exports it only from its internal module.
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

from dify_meter.settings import Settings


def lookback_window(today: date, lookback_days: int, partitions_start: date) -> tuple[date, date] | None:
    """Yesterday and the lookback days before it (late data), clamped to the first partition."""
    last = today - timedelta(days=1)
    first = max(last - timedelta(days=lookback_days), partitions_start)
    return (first, last) if last >= partitions_start else None


def build_schedule(job: UnresolvedAssetJobDefinition, settings: Settings) -> dg.ScheduleDefinition:
    @dg.schedule(
        name="daily_usage_schedule",
        job=job,
        cron_schedule=settings.schedule_cron,
        execution_timezone=settings.dify_timezone,
        default_status=(
            dg.DefaultScheduleStatus.RUNNING if settings.schedule_enabled else dg.DefaultScheduleStatus.STOPPED
        ),
        description=f"Each tick ({settings.schedule_cron}, {settings.dify_timezone}) reads yesterday and the "
        f"{settings.dify_lookback_days} days before it in one run, so late data is picked up; only changed keys "
        "are re-sent to API_Meter. Runs by default only with SCHEDULE_ENABLED=true.",
    )
    def daily_usage_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
        today = context.scheduled_execution_time.astimezone(settings.timezone).date()
        window = lookback_window(today, settings.dify_lookback_days, settings.dify_partitions_start)
        if window is None:
            return dg.SkipReason(f"yesterday is before DIFY_PARTITIONS_START ({settings.dify_partitions_start})")
        first, last = window
        return dg.RunRequest(
            run_key=f"daily:{first}...{last}",
            tags={
                # One single-run range: Dify is read once for all the days, every day is a recorded materialization.
                "dagster/asset_partition_range_start": first.isoformat(),
                "dagster/asset_partition_range_end": last.isoformat(),
            },
        )

    return daily_usage_schedule
