from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date

import pytest

from dify_meter.defs.schedules import lookback_window

EVALUATE_TICK = """
import json, sys
from datetime import datetime
from zoneinfo import ZoneInfo
import dagster as dg
from dify_meter.definitions import defs

d = defs()
schedule = d.resolve_schedule_def("daily_usage_schedule")
when = datetime.fromisoformat(sys.argv[1]).replace(tzinfo=ZoneInfo(schedule.execution_timezone))
with dg.instance_for_test() as instance:
    result = schedule.evaluate_tick(dg.build_schedule_context(instance=instance, scheduled_execution_time=when))
job = d.resolve_job_def("daily_usage_job")
print(json.dumps({
    "cron": schedule.cron_schedule, "timezone": schedule.execution_timezone,
    "status": str(schedule.default_status),
    "job_assets": sorted(k.to_user_string() for k in job.asset_layer.executable_asset_keys),
    "requests": [r.tags for r in result.run_requests or []],
    "skip": result.skip_message,
}))
"""


def tick(when: str, **env: str) -> dict:
    completed = subprocess.run(
        [sys.executable, "-c", EVALUATE_TICK, when],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    return json.loads(completed.stdout.strip().splitlines()[-1])


def test_lookback_window():
    assert lookback_window(date(2026, 11, 28), 2, date(2025, 1, 1)) == (date(2026, 11, 25), date(2026, 11, 27))
    assert lookback_window(date(2025, 1, 2), 2, date(2025, 1, 1)) == (date(2025, 1, 1), date(2025, 1, 1))
    assert lookback_window(date(2025, 1, 1), 2, date(2025, 1, 1)) is None


@pytest.mark.e2e
def test_tick_requests_yesterday_and_lookback_in_the_configured_timezone_on_a_dst_day():
    result = tick(
        "2026-11-02T01:00:00",
        DIFY_TIMEZONE="America/New_York",
        SCHEDULE_CRON="0 1 * * *",
        DIFY_LOOKBACK_DAYS="2",
        SCHEDULE_ENABLED="true",
    )
    assert (result["cron"], result["timezone"]) == ("0 1 * * *", "America/New_York")
    assert result["status"].endswith("RUNNING")
    (tags,) = result["requests"]
    assert tags["dagster/asset_partition_range_start"] == "2026-10-30"
    assert tags["dagster/asset_partition_range_end"] == "2026-11-01"  # the 25-hour day
    assert result["job_assets"] == ["api_meter_sent", "raw_usage_events", "usage_per_model"]


@pytest.mark.e2e
def test_cron_timezone_and_output_mode_need_no_code_change():
    result = tick(
        "2026-06-15T06:30:00",
        DIFY_TIMEZONE="Asia/Tokyo",
        SCHEDULE_CRON="30 6 * * *",
        DIFY_LOOKBACK_DAYS="0",
        DIFY_OUTPUT_MODE="per_user",
    )
    assert (result["cron"], result["timezone"]) == ("30 6 * * *", "Asia/Tokyo")
    assert result["status"].endswith("STOPPED")  # SCHEDULE_ENABLED defaults to false
    (tags,) = result["requests"]
    assert (tags["dagster/asset_partition_range_start"], tags["dagster/asset_partition_range_end"]) == (
        "2026-06-14",
        "2026-06-14",
    )
    assert result["job_assets"] == ["raw_usage_events", "usage_per_user"]
