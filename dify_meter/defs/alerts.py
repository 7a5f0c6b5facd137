"""Alerts to people (DIFY_METER_ALERT_WEBHOOK_URL): a failed run, a day whose spool replays are exhausted,
an overdue day (defs/deadline.py) and a check failing at ERROR severity. Without a webhook they do nothing."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date

import dagster as dg
from dagster._core.execution.plan.objects import StepFailureData

from dify_meter.api_meter import spool
from dify_meter.core.alerts import Alert, AlertWebhook, ui_link
from dify_meter.core.readable import day_range
from dify_meter.core.store import StoreError
from dify_meter.defs.resources import DuckDBStoreResource, MeterSettingsResource
from dify_meter.settings import Settings
from dify_meter.usage.checks import CheckOutcome

FAILURE_TEXT_LIMIT = 600  # a stack trace belongs in the UI, not in a chat message


def webhook_of(settings: Settings) -> AlertWebhook | None:
    if settings.dify_meter_alert_webhook_url is None:
        return None
    return AlertWebhook(settings.dify_meter_alert_webhook_url.get_secret_value(), secrets=settings.secret_values())


def run_days(tags: Mapping[str, str]) -> str | None:
    """The day or days a run worked on, from Dagster's partition tags."""
    if "dagster/partition" in tags:
        return tags["dagster/partition"]
    first, last = tags.get("dagster/asset_partition_range_start"), tags.get("dagster/asset_partition_range_end")
    return day_range(date.fromisoformat(first), date.fromisoformat(last)) if first and last else None


def alert_failed_checks(
    settings: Settings, asset: str, first_day: date, last_day: date, run_id: str, outcomes: Mapping[str, CheckOutcome]
) -> None:
    """Post one alert per check of `asset` that failed at ERROR severity in this run."""
    webhook = webhook_of(settings)
    if webhook is None:
        return
    one_day = first_day == last_day
    for name, outcome in outcomes.items():
        if outcome.passed or outcome.severity != "ERROR":
            continue
        webhook.post(
            Alert(
                title=f"check {asset}/{name} failed" + ("" if one_day else f" for {day_range(first_day, last_day)}"),
                reason=outcome.summary,
                day=first_day if one_day else None,
                link=ui_link(settings.dify_meter_ui_url, f"runs/{run_id}"),
            )
        )


def _step_reason(failure: StepFailureData) -> str:
    """A dg.Failure's description, else the innermost exception's message (Dagster wraps the user's error)."""
    if failure.user_failure_data and failure.user_failure_data.description:
        return failure.user_failure_data.description.strip()
    error = failure.error
    while error is not None and error.cause is not None:
        error = error.cause
    return error.message.strip() if error else ""


@dg.run_failure_sensor(
    name="alert_on_run_failure",
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Posts a short message to DIFY_METER_ALERT_WEBHOOK_URL for every failed run: the job, the day(s), "
    "the reason and a link to the run (DIFY_METER_UI_URL). Does nothing without a webhook.",
)
def alert_on_run_failure(context: dg.RunFailureSensorContext, meter_settings: MeterSettingsResource) -> None:
    settings = meter_settings.load()
    webhook = webhook_of(settings)
    if webhook is None:
        return
    run = context.dagster_run
    days = run_days(run.tags)
    # The failed step's own error says why; Dagster's run-level message only lists step names.
    messages = [_step_reason(event.step_failure_data) for event in context.get_step_failure_events()]
    reason = "\n".join(m for m in messages if m) or (context.failure_event.message or "the run failed").strip()
    if len(reason) > FAILURE_TEXT_LIMIT:
        reason = reason[:FAILURE_TEXT_LIMIT] + " …"
    webhook.post(
        Alert(
            title=f"run of {run.job_name} failed" + (f" for {days}" if days else ""),
            reason=reason,
            link=ui_link(settings.dify_meter_ui_url, f"runs/{run.run_id}"),
        )
    )


@dg.sensor(
    name="spool_exhausted_alert_sensor",
    minimum_interval_seconds=300,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Posts a message once for each day whose delivery to API_Meter failed for good (permanent, or "
    "MAX_RETRIES replays spent): a person must fix the cause and run `dify-meter spool replay --date DAY`.",
)
def spool_exhausted_alert_sensor(
    context: dg.SensorEvaluationContext, duckdb_store: DuckDBStoreResource, meter_settings: MeterSettingsResource
) -> dg.SkipReason | dg.SensorResult:
    try:
        with duckdb_store.store().connect_read_only() as conn:
            failed = spool.list_entries(conn, statuses=("failed",))
    except StoreError as exc:
        return dg.SkipReason(f"spool not readable now ({exc}); will look again next tick")
    # One alert per failure: a day that is replayed by hand and fails again is a new failure.
    current = {f"{entry.usage_date}@{entry.last_failed_at.isoformat()}": entry for entry in failed}
    alerted = set(json.loads(context.cursor)) if context.cursor else set()
    new = [entry for key, entry in current.items() if key not in alerted]
    if not new:
        return dg.SkipReason(f"{len(current)} days wait for a person in the spool; none is new")
    settings = meter_settings.load()
    webhook = webhook_of(settings)
    for entry in new:
        why = "permanent error" if entry.permanent else f"{entry.attempts} automatic replays spent"
        if webhook:
            webhook.post(
                Alert(
                    title="delivery to API_Meter gave up",
                    day=entry.usage_date,
                    reason=f"{entry.last_error} ({why}). Fix the cause, then `dify-meter spool replay --date "
                    f"{entry.usage_date}`; `dify-meter spool list` shows the spool.",
                    link=ui_link(settings.dify_meter_ui_url, "assets/api_meter_sent"),
                )
            )
    context.log.warning(f"delivery gave up for {', '.join(str(entry.usage_date) for entry in new)}")
    return dg.SensorResult(cursor=json.dumps(sorted(current)))
