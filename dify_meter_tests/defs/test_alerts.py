"""The alerting sensors and the ERROR-check alert, posting to a loopback webhook."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import dagster as dg
import pytest

from dify_meter.api_meter import spool
from dify_meter.core.store import DuckDBStore
from dify_meter.definitions import defs as load_defs
from dify_meter.defs.alerts import alert_on_run_failure, spool_exhausted_alert_sensor
from dify_meter.usage.raw_events import replace_window
from dify_meter_tests.support.events import make_event
from dify_meter_tests.support.settings import resources_on
from dify_meter_tests.support.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.integration
DAY = date(2026, 11, 10)
TOKEN = "api-meter-token-never-shown"


@pytest.fixture
def receiver(monkeypatch, tmp_path):
    with WebhookReceiver() as webhook:
        monkeypatch.setenv("DIFY_METER_ALERT_WEBHOOK_URL", webhook.url)
        monkeypatch.setenv("DIFY_METER_UI_URL", "http://dagster.internal:3000")
        monkeypatch.setenv("API_METER_TOKEN", TOKEN)
        monkeypatch.setenv("DIFY_METER_DUCKDB", str(tmp_path / "m.duckdb"))
        yield webhook


def resources(tmp_path) -> dict:
    return resources_on(tmp_path / "m.duckdb")


def test_a_failed_run_posts_its_day_its_reason_and_a_link_without_secrets(receiver, tmp_path):
    @dg.asset(partitions_def=dg.DailyPartitionsDefinition(start_date="2026-11-01"))
    def sending() -> None:
        raise RuntimeError(f"API_Meter refused bearer {TOKEN}: 401")

    with dg.instance_for_test() as instance:
        result = dg.materialize([sending], instance=instance, partition_key=DAY.isoformat(), raise_on_error=False)
        assert not result.success
        context = dg.build_run_status_sensor_context(
            sensor_name="alert_on_run_failure",
            dagster_event=result.get_run_failure_event(),
            dagster_instance=instance,
            dagster_run=result.dagster_run,
            resources=resources(tmp_path),
        ).for_run_failure()
        alert_on_run_failure(context)
    [text] = receiver.texts
    assert text.startswith(f"*dify_meter: run of __ephemeral_asset_job__ failed for {DAY}*\n")
    assert "API_Meter refused bearer [secret removed]: 401" in text
    assert f"<http://dagster.internal:3000/runs/{result.run_id}|Open in Dagster>" in text
    assert TOKEN not in text and "secret-hook-token" not in text


def test_a_day_the_spool_gave_up_on_is_posted_once(receiver, tmp_path):
    with DuckDBStore(tmp_path / "m.duckdb").connect() as conn:
        spool.spool_failure(
            conn,
            DAY,
            "API_Meter answered 422: unknown model",
            permanent=True,
            now=datetime(2026, 11, 11, 2, tzinfo=UTC),
            http_status=422,
        )
    with dg.instance_for_test() as instance:
        first = spool_exhausted_alert_sensor(dg.build_sensor_context(instance=instance, resources=resources(tmp_path)))
        assert isinstance(first, dg.SensorResult) and first.cursor
        again = spool_exhausted_alert_sensor(
            dg.build_sensor_context(instance=instance, resources=resources(tmp_path), cursor=first.cursor)
        )
    assert isinstance(again, dg.SkipReason) and "1 days wait for a person" in (again.skip_message or "")
    [text] = receiver.texts
    assert text.startswith(f"*dify_meter: delivery to API_Meter gave up for {DAY}*\nAPI_Meter answered 422")
    assert f"dify-meter spool replay --date {DAY}" in text and "(permanent error)" in text
    assert json.loads(first.cursor) == [f"{DAY}@2026-11-11T02:00:00+00:00"]


def test_a_currency_conflict_posts_the_error_check(receiver, tmp_path):
    with DuckDBStore(tmp_path / "m.duckdb").connect() as conn:
        replace_window(conn, DAY, DAY, [make_event("a", DAY), make_event("b", DAY, currency="EUR")])
    per_model = load_defs().get_assets_def("usage_per_model")
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [per_model],
            resources=resources(tmp_path),
            instance=instance,
            partition_key=DAY.isoformat(),
            raise_on_error=False,
        )
    failed = {e.check_name for e in result.get_asset_check_evaluations() if not e.passed}
    assert failed == {"currency"}
    [text] = receiver.texts
    assert text.startswith(f"*dify_meter: check usage_per_model/currency failed for {DAY}*\n1 per-model keys mix")
    assert f"/runs/{result.run_id}|" in text


def test_without_a_webhook_nothing_is_posted_and_nothing_fails(tmp_path, monkeypatch):
    monkeypatch.delenv("DIFY_METER_ALERT_WEBHOOK_URL", raising=False)
    with DuckDBStore(tmp_path / "m.duckdb").connect() as conn:
        spool.spool_failure(conn, DAY, "gone", permanent=True, now=datetime(2026, 11, 11, tzinfo=UTC))
    with dg.instance_for_test() as instance:
        result = spool_exhausted_alert_sensor(dg.build_sensor_context(instance=instance, resources=resources(tmp_path)))
    assert isinstance(result, dg.SensorResult)  # the day is marked seen: a webhook set later is not flooded
