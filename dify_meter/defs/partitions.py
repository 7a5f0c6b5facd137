import dagster as dg

from dify_meter.settings import Settings


def build_partitions(settings: Settings) -> dg.DailyPartitionsDefinition:
    # Days are calendar days in DIFY_TIMEZONE (DST days have 23 or 25 hours); today has no partition yet.
    return dg.DailyPartitionsDefinition(
        start_date=settings.dify_partitions_start.isoformat(), timezone=settings.dify_timezone
    )
