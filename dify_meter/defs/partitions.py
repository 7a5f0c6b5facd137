import dagster as dg

from dify_meter.defs.settings import SETTINGS

# Days are calendar days in DIFY_TIMEZONE (DST days have 23 or 25 hours); today has no partition yet.
daily_partitions = dg.DailyPartitionsDefinition(
    start_date=SETTINGS.dify_partitions_start.isoformat(), timezone=SETTINGS.dify_timezone
)
