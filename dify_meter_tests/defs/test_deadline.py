"""Overdue days: the due day's own partition of api_meter_sent counts, a delivery of an older day does not."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from dify_meter.api_meter.deliver import utc_now
from dify_meter.core.store import DuckDBStore
from dify_meter.definitions import defs as load_defs
from dify_meter.defs.deadline import delivery_deadline_sensor, due_day, overdue_day
from dify_meter.sandbox.api_meter.server import DEFAULT_TENANT_ID, DEFAULT_TOKEN, ApiMeterServer
from dify_meter.settings import load_settings
from dify_meter_tests.support.delivery import day_events, load_day
from dify_meter_tests.support.settings import resources_on
from dify_meter_tests.support.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.integration


def test_the_due_day_is_the_latest_whose_deadline_passed():
    utc, berlin = ZoneInfo("UTC"), ZoneInfo("Europe/Berlin")
    assert due_day(datetime(2026, 11, 12, 5, 59, tzinfo=UTC), utc, 30) == date(2026, 11, 9)
    assert due_day(datetime(2026, 11, 12, 6, 0, tzinfo=UTC), utc, 30) == date(2026, 11, 10)
    assert due_day(datetime(2026, 11, 12, 6, 0, tzinfo=UTC), berlin, 30) == date(2026, 11, 10)  # 07:00 there
    assert due_day(datetime(2026, 11, 12, 4, 59, tzinfo=UTC), berlin, 30) == date(2026, 11, 9)  # 05:59 there
    assert due_day(datetime(2026, 11, 12, 0, 0, tzinfo=UTC), utc, 24) == date(2026, 11, 10)


def test_delivering_an_older_day_leaves_the_due_day_overdue(tmp_path, monkeypatch):
    store = DuckDBStore(tmp_path / "m.duckdb")
    settings = load_settings(_env_file=None)
    due = due_day(utc_now(), settings.timezone, settings.dify_meter_delivery_deadline_hours)
    older = due - timedelta(days=3)  # a lookback re-read or a spool replay
    for day in (older, due):
        load_day(store, day, day_events(day))
    sent = load_defs().get_assets_def("api_meter_sent")
    with ApiMeterServer() as api_meter, WebhookReceiver() as webhook, dg.instance_for_test() as instance:
        for name, value in {
            "API_METER_URL": api_meter.base_url,
            "API_METER_TOKEN": DEFAULT_TOKEN,
            "API_METER_TENANT_ID": DEFAULT_TENANT_ID,
            "DIFY_METER_ALERT_WEBHOOK_URL": webhook.url,
            "DIFY_METER_DUCKDB": str(store.path),
        }.items():
            monkeypatch.setenv(name, value)
        resources = resources_on(store.path)  # built from the environment above, as the code location does
        assert dg.materialize([sent], resources=resources, instance=instance, partition_key=older.isoformat()).success
        assert overdue_day(instance, settings, utc_now()) == due

        first = delivery_deadline_sensor(dg.build_sensor_context(instance=instance, resources=resources))
        assert isinstance(first, dg.SensorResult) and first.cursor == due.isoformat()
        assert f"{due} is overdue: not delivered to API_Meter by" in str(first.skip_reason)
        again = delivery_deadline_sensor(
            dg.build_sensor_context(instance=instance, resources=resources, cursor=first.cursor)
        )
        assert isinstance(again, dg.SkipReason) and f"{due} is overdue" in (again.skip_message or "")
        assert len(webhook.texts) == 1 and webhook.texts[0].startswith(
            f"*dify_meter: API_Meter delivery overdue for {due}*"
        )

        assert dg.materialize([sent], resources=resources, instance=instance, partition_key=due.isoformat()).success
        assert overdue_day(instance, settings, utc_now()) is None
        done = delivery_deadline_sensor(dg.build_sensor_context(instance=instance, resources=resources))
        assert isinstance(done, dg.SkipReason) and "no day is overdue" in (done.skip_message or "")
