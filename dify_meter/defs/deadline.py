"""Overdue days: the latest day whose delivery deadline (DIFY_METER_DELIVERY_DEADLINE_HOURS after the day's
end, in DIFY_TIMEZONE) has passed must have a materialization of *its own* partition of api_meter_sent.

Only that partition counts: a lookback re-read or a spool replay of an older day delivers an older day.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import dagster as dg

from dify_meter.api_meter.deliver import utc_now
from dify_meter.core.alerts import Alert, ui_link
from dify_meter.defs.alerts import webhook_of
from dify_meter.defs.resources import MeterSettingsResource
from dify_meter.settings import Settings

DELIVERY_ASSET = dg.AssetKey("api_meter_sent")


def deadline_of(day: date, tz: ZoneInfo, deadline_hours: int) -> datetime:
    return datetime.combine(day + timedelta(days=1), time(), tz) + timedelta(hours=deadline_hours)


def due_day(now: datetime, tz: ZoneInfo, deadline_hours: int) -> date:
    """The latest day whose deadline has passed at `now`: with 30 hours, the day before yesterday after 06:00."""
    day = now.astimezone(tz).date()
    while deadline_of(day, tz, deadline_hours) > now:
        day -= timedelta(days=1)
    return day


def overdue_day(instance: dg.DagsterInstance, settings: Settings, now: datetime) -> date | None:
    """The due day if its partition of api_meter_sent has no materialization; None if delivered (or no partition)."""
    day = due_day(now, settings.timezone, settings.dify_meter_delivery_deadline_hours)
    if day < settings.dify_partitions_start:
        return None
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=DELIVERY_ASSET, asset_partitions=[day.isoformat()]), limit=1
    ).records
    return None if records else day


def overdue_text(day: date, settings: Settings) -> str:
    deadline = deadline_of(day, settings.timezone, settings.dify_meter_delivery_deadline_hours)
    return (
        f"{day} is overdue: not delivered to API_Meter by {deadline:%Y-%m-%d %H:%M} {settings.dify_timezone} "
        f"({settings.dify_meter_delivery_deadline_hours} hours after the day's end, "
        "DIFY_METER_DELIVERY_DEADLINE_HOURS). Look at the day's last run of daily_usage_job, then materialize "
        f"api_meter_sent for {day}."
    )


@dg.sensor(
    name="delivery_deadline_sensor",
    minimum_interval_seconds=600,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Shows an overdue day: the latest day whose deadline (DIFY_METER_DELIVERY_DEADLINE_HOURS after its "
    "end) has passed and whose own partition of api_meter_sent was never materialized; alerts once per day.",
)
def delivery_deadline_sensor(
    context: dg.SensorEvaluationContext, meter_settings: MeterSettingsResource
) -> dg.SkipReason | dg.SensorResult:
    settings = meter_settings.load()
    day = overdue_day(context.instance, settings, utc_now())
    if day is None:
        return dg.SkipReason("no day is overdue: the latest due day was delivered to API_Meter")
    text = overdue_text(day, settings)
    context.log.warning(text)
    if context.cursor == day.isoformat():
        return dg.SkipReason(text)  # alerted already
    webhook = webhook_of(settings)
    if webhook:
        webhook.post(
            Alert(
                title="API_Meter delivery overdue",
                day=day,
                reason=text,
                link=ui_link(settings.dify_meter_ui_url, "assets/api_meter_sent"),
            )
        )
    return dg.SensorResult(skip_reason=text, cursor=day.isoformat())
