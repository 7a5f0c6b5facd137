"""The alert webhook sender against a loopback receiver: Slack-compatible JSON, bounded retries, no secrets."""

from __future__ import annotations

from datetime import date

import pytest

from dify_meter.core.alerts import ATTEMPTS, Alert, AlertWebhook, ui_link
from dify_meter.settings import SettingsError, load_settings
from dify_meter_tests.support.webhook_receiver import WebhookReceiver

ALERT = Alert(
    title="API_Meter delivery overdue",
    day=date(2026, 11, 10),
    reason="token tok-123 was refused",
    link=ui_link("http://dagster.example:3000/", "assets/api_meter_sent"),
)


def test_posts_the_day_the_reason_and_a_link_without_secrets():
    with WebhookReceiver() as receiver:
        assert AlertWebhook(receiver.url, secrets=["tok-123"]).post(ALERT)
    assert receiver.bodies == [
        {
            "text": "*dify_meter: API_Meter delivery overdue for 2026-11-10*\n"
            "token [secret removed] was refused\n"
            "<http://dagster.example:3000/assets/api_meter_sent|Open in Dagster>"
        }
    ]


def test_retries_a_busy_webhook_a_bounded_number_of_times(caplog):
    sleeps: list[float] = []
    with WebhookReceiver(failures=1) as receiver:
        assert AlertWebhook(receiver.url, sleep=sleeps.append).post(ALERT)
    assert len(receiver.bodies) == 1 and sleeps == [1.0]
    with WebhookReceiver(failures=ATTEMPTS) as receiver:
        assert not AlertWebhook(receiver.url, sleep=sleeps.append).post(ALERT)
    assert receiver.bodies == [] and "HTTP 503" in caplog.text and "secret-hook-token" not in caplog.text
    with WebhookReceiver(failures=1, status=404) as receiver:  # not worth a retry: the URL is wrong
        assert not AlertWebhook(receiver.url, sleep=sleeps.append).post(ALERT)
    assert receiver.failures == 0 and receiver.bodies == []


def test_an_unreachable_webhook_is_logged_without_its_url(caplog):
    webhook = AlertWebhook("http://127.0.0.1:9/hook-secret", sleep=lambda _: None, timeout=1)
    assert not webhook.post(ALERT)
    assert "ConnectError" in caplog.text and "hook-secret" not in caplog.text and "hook-secret" not in repr(webhook)


@pytest.mark.parametrize("url", ["hooks.slack.com/services/x", "http://hooks.slack.com/services/x", "https://"])
def test_a_bad_webhook_url_is_a_clear_configuration_error_that_hides_it(url):
    with pytest.raises(SettingsError) as error:
        load_settings(_env_file=None, dify_meter_alert_webhook_url=url)
    assert "DIFY_METER_ALERT_WEBHOOK_URL" in str(error.value) and "https://" in str(error.value)
    assert "services/x" not in str(error.value)


def test_the_ui_url_is_checked_like_every_url():
    with pytest.raises(SettingsError, match="DIFY_METER_UI_URL"):
        load_settings(_env_file=None, dify_meter_ui_url="dagster:3000")
    assert (
        load_settings(_env_file=None, dify_meter_ui_url="http://dagster:3000/").dify_meter_ui_url
        == "http://dagster:3000"
    )
