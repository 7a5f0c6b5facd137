"""`dify-meter export` in-process against the Dify simulator and the reference API_Meter over loopback,
and the recovery of a run whose process was killed with `kill -9`."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
from collections import Counter
from datetime import timedelta
from pathlib import Path

import dagster as dg
import pytest

from dify_meter.defs.runs import fail_stale_runs
from dify_meter_tests.support.cli import MON, SAT, SUN, TODAY, exit_code, printed_totals, truth, truth_costs

pytestmark = pytest.mark.e2e
PROJECT_ROOT = Path(__file__).resolve().parents[2]
# Saturday, Sunday, Monday: two ISO weeks. In-process runs use UTC and the default partitions start
# (the definitions factory reads the settings of each in-process run).
# --- usage errors: exit code 2 before anything runs ---------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        (["--date", "2026-13-01"], {}, "argument --date: expected a date as YYYY-MM-DD, got '2026-13-01'"),
        (["--start-date", "yesterday", "--end-date", "2026-06-08"], {}, "expected a date as YYYY-MM-DD"),
        (["--mode", "per_team"], {}, "argument --mode: invalid choice: 'per_team'"),
        (["--period", "hourly"], {}, "argument --period: invalid choice: 'hourly'"),
        (
            ["--date", "2026-06-06", "--start-date", "2026-06-06", "--end-date", "2026-06-07"],
            {},
            "give either --date D or --start-date A --end-date B, not both",
        ),
        (["--start-date", "2026-06-06"], {}, "give both --start-date and --end-date (or --date D for one day)"),
        (
            ["--start-date", "2026-06-08", "--end-date", "2026-06-06"],
            {},
            "--start-date 2026-06-08 is after --end-date 2026-06-06",
        ),
        (
            ["--date", "2024-12-31"],
            {},
            "--date 2024-12-31 is before DIFY_PARTITIONS_START (2025-01-01): there is no partition for it",
        ),
        (["--date", str(TODAY)], {}, f"--date {TODAY} is today or later in UTC: its partition exists only once"),
        (
            ["--start-date", "2026-06-06", "--end-date", str(TODAY + timedelta(days=3))],
            {},
            f"The latest day to export is {TODAY - timedelta(days=1)}.",
        ),
        (
            [],
            {"DIFY_START_DATE": "2024-06-01", "DIFY_END_DATE": "2024-06-30"},
            "DIFY_START_DATE 2024-06-01 is before DIFY_PARTITIONS_START (2025-01-01)",
        ),
        ([], {"DIFY_END_DATE": str(TODAY)}, f"DIFY_END_DATE {TODAY} is today or later in UTC"),
        ([], {"DIFY_OUTPUT_MODE": "per_team"}, "DIFY_OUTPUT_MODE: Input should be"),
        (["--date", "2026-06-06"], {"DIFY_API_URL": ""}, "DIFY_API_URL is required"),
        (
            ["--date", "2026-06-06", "--mode", "per_model"],
            {"API_METER_TOKEN": ""},
            "API_METER_TOKEN required to send to API_Meter",
        ),
    ],
)
def test_bad_arguments_and_ranges_are_usage_errors(argv, env, message, configured, dify, capsys, monkeypatch):
    for name, value in env.items():
        monkeypatch.setenv(name, value) if value else monkeypatch.delenv(name, raising=False)
    assert exit_code(["export", *argv]) == 2
    captured = capsys.readouterr()
    assert message in captured.err
    assert dify.request_log == []  # refused before reading anything
    assert not (configured / "dagster_home").exists()


def test_help_names_every_option(capsys):
    assert exit_code(["export", "--help"]) == 0
    out = capsys.readouterr().out
    for option in ("--mode", "--date", "--start-date", "--end-date", "--period", "--dry-run", "--force"):
        assert option in out


# --- exports against the simulators -------------------------------------------------------------------


def test_dry_run_sends_nothing_then_the_export_delivers_the_ground_truth(configured, workspace, api_meter, capsys):
    expected = truth(workspace, SAT, MON)
    assert exit_code(["export", "--start-date", str(SAT), "--end-date", str(MON), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert api_meter.request_log == []
    assert "Dry run: nothing was sent to API_Meter" in out
    payload = Path(re.search(r"The exact payload is in (\S+)", out).group(1))
    records = json.loads(payload.read_text())["records"]
    assert f"**{len(records)} records to send**: {len(records)} new" in out
    assert sum(record["total_tokens"] for record in records) == sum(e.total_tokens for e in expected)

    assert exit_code(["export", "--start-date", str(SAT), "--end-date", str(MON)]) == 0
    out = capsys.readouterr().out
    assert "Exporting 2026-06-06 .. 2026-06-08 (3 days, UTC), mode per_model" in out
    assert "raw_usage_events: reading Dify ..." in out and "api_meter_sent: done" in out  # progress per phase
    assert "| provider | model | requests | input | output | total tokens | cost | currency |" in out
    ((requests, tokens, costs),) = printed_totals(out)
    assert (requests, tokens) == (len(expected), sum(e.total_tokens for e in expected))
    assert {c: a for c, a in costs.items() if a} == truth_costs(expected)
    assert f"API_Meter: {len(records)} of {len(records)} records delivered ({len(records)} new, 0 changed" in out
    held = api_meter.totals()
    assert (held.records, held.total_tokens, held.request_count) == (len(records), tokens, requests)
    assert {c: a for c, a in held.cost_by_currency.items() if a} == truth_costs(expected)
    assert re.search(r"Full log: (\S+)", out) and Path(re.search(r"Full log: (\S+)", out).group(1)).exists()

    assert exit_code(["export", "--date", str(SUN)]) == 0  # the same values again: nothing is re-sent
    sunday_keys = sum(1 for record in records if record["usage_date"] == str(SUN))
    assert f"API_Meter: {sunday_keys} keys unchanged since the last delivery, not re-sent." in capsys.readouterr().out
    assert len(api_meter.request_log) == 1


def test_weekly_period_shows_the_roll_up_of_the_exported_days(configured, workspace, api_meter, capsys):
    assert (
        exit_code(
            ["export", "--start-date", str(SAT), "--end-date", str(MON), "--mode", "workspace", "--period", "weekly"]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "Usage of the workspace, 2026-06-06 .. 2026-06-08, per week:" in out
    assert "| week of | requests | input | output | total tokens | cost | currency |" in out
    rows = re.findall(r"^\| (2026-06-\d\d) \| [\d,]+ \| [\d,]+ \| [\d,]+ \| ([\d,]+) \|", out, flags=re.MULTILINE)
    tokens_per_week: Counter[str] = Counter()
    for monday, tokens in rows:  # one row per week and currency
        tokens_per_week[monday] += int(tokens.replace(",", ""))
    assert tokens_per_week == {  # weeks start on Monday: Saturday and Sunday are in the week of June 1
        "2026-06-01": sum(e.total_tokens for e in truth(workspace, SAT, SUN)),
        "2026-06-08": sum(e.total_tokens for e in truth(workspace, MON, MON)),
    }
    assert "mode workspace is local only" in out and api_meter.request_log == []


def test_a_failed_delivery_exits_1_saying_why_and_where_the_logs_are(configured, api_meter, capsys, monkeypatch):
    monkeypatch.setenv("API_METER_TOKEN", "not-the-token")
    assert exit_code(["export", "--date", str(SUN)]) == 1
    captured = capsys.readouterr()
    assert "The run failed." in captured.err
    assert "api_meter_sent: API_Meter delivery failed for 2026-06-07" in captured.err
    assert "Check API_METER_TOKEN" in captured.err and "not-the-token" not in captured.out + captured.err
    assert "Traceback" not in captured.out + captured.err
    log = Path(re.search(r"Full log: (\S+)", captured.err).group(1))
    assert "Stack Trace:" in log.read_text()  # the whole story is in the log file
    assert "Usage per model, 2026-06-07 .. 2026-06-07" in captured.out  # the aggregate was built all the same
    assert "Days in the spool: 2026-06-07 failed (waits for you: dify-meter spool replay --date 2026-06-07)" in (
        captured.out
    )
    assert api_meter.records() == {}


# --- a run killed with kill -9 ------------------------------------------------------------------------

KILLED_CHILD = textwrap.dedent("""
    import sys
    from datetime import date
    from dify_meter.definitions import defs
    from dify_meter.defs.runs import materialize
    materialize(defs(), ["raw_usage_events"], date.fromisoformat(sys.argv[1]), date.fromisoformat(sys.argv[1]))
""")


def kill_a_run_holding_the_duckdb_slot(configured, dify) -> str:
    """Start an export in a child process, kill -9 it while its step holds the duckdb pool slot."""
    entered, release = threading.Event(), threading.Event()

    def hold(request):  # the child's raw_usage_events step waits here, holding the duckdb pool slot
        entered.set()
        release.wait(60)

    dify.intercept(hold)
    child = subprocess.Popen([sys.executable, "-c", KILLED_CHILD, str(SUN)], env=dict(os.environ), cwd=configured)
    try:
        assert entered.wait(120), "the child never reached Dify"
        with dg.DagsterInstance.get() as instance:
            (record,) = instance.get_run_records()
            assert fail_stale_runs(instance).alive == [record.dagster_run.run_id]  # a live run is left alone
            os.kill(child.pid, signal.SIGKILL)
            child.wait(30)
            claimed = instance.event_log_storage.get_concurrency_info("duckdb").claimed_slots
            assert [slot.run_id for slot in claimed] == [record.dagster_run.run_id]
    finally:
        child.kill()
        release.set()
        dify.clear_hooks()
    return record.dagster_run.run_id


def test_the_spool_sensor_fails_a_killed_run_and_frees_its_slot(configured, dify):
    from dify_meter.definitions import defs
    from dify_meter.defs.resources import build_resources
    from dify_meter.settings import load_settings

    spool_replay_sensor = defs().resolve_sensor_def("spool_replay_sensor")

    run_id = kill_a_run_holding_the_duckdb_slot(configured, dify)
    with dg.DagsterInstance.get() as instance:
        spool_replay_sensor(
            dg.build_sensor_context(
                instance=instance,
                resources=build_resources(load_settings()).by_key(),
            )
        )
        assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.FAILURE
        assert instance.event_log_storage.get_concurrency_info("duckdb").claimed_slots == []


def test_a_killed_run_is_failed_and_its_duckdb_slot_freed_before_the_next_export(configured, dify, capsys):
    run_id = kill_a_run_holding_the_duckdb_slot(configured, dify)

    assert exit_code(["export", "--date", str(SUN)]) == 0
    out = capsys.readouterr().out
    assert f"Run {run_id} was still marked in progress but its process is gone" in out
    with dg.DagsterInstance.get() as instance:
        killed = instance.get_run_by_id(run_id)
        assert killed.status == dg.DagsterRunStatus.FAILURE
        assert instance.event_log_storage.get_concurrency_info("duckdb").claimed_slots == []
        assert len(instance.get_run_records(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.SUCCESS]))) == 1
