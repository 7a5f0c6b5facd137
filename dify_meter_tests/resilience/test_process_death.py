"""kill -9 of a run while it fetches, aggregates or sends, against the simulators over loopback, with the same
DAGSTER_HOME and DuckDB file as the runs that recover. After recovery API_Meter and every DuckDB table equal the
ground truth, the killed run is failed in the instance and its DuckDB pool slot is free."""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime, timedelta

import dagster as dg
import pytest

from dify_meter.cli.main import main
from dify_meter.core.event import UsageEvent
from dify_meter.definitions import defs
from dify_meter.defs.runs import fail_stale_runs, materialize
from dify_meter.sandbox.dify.changes import add_workflow_runs
from dify_meter.sandbox.dify.generate import generate_workspace
from dify_meter.sandbox.dify.server import DifySimulator
from dify_meter_tests.support.aggregates import actual, expected
from dify_meter_tests.support.events import stored_events
from dify_meter_tests.support.resilience import (
    WAIT_SECONDS,
    FreezeScan,
    HoldingApiMeter,
    MeterSetup,
    api_meter_holds,
    api_meter_truth,
    assert_duckdb_holds,
    child_process,
    duckdb_slot_holders,
    export_args,
    materialize_command,
    meter_command,
    open_spool_days,
    run_command,
    run_status,
    runs_of,
    truth,
    wait_for,
)
from dify_meter_tests.support.settings import resources_on

spool_replay_sensor = defs().resolve_sensor_def("spool_replay_sensor")  # as the code location builds it
pytestmark = [pytest.mark.resilience, pytest.mark.e2e]
FIRST, LAST = date(2026, 6, 2), date(2026, 6, 4)
DAYS = [FIRST + timedelta(days=n) for n in range((LAST - FIRST).days + 1)]
STARTED, FAILURE = dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.FAILURE


@pytest.fixture
def workspace():
    return generate_workspace(seed=13, start_date=FIRST - timedelta(days=1), days=5)


@pytest.fixture
def meter(tmp_path, workspace, monkeypatch):
    with DifySimulator(workspace) as dify, HoldingApiMeter() as api_meter:
        setup = MeterSetup(tmp_path, dify, api_meter)
        setup.apply(monkeypatch)
        yield setup


def the_killed_run() -> dg.DagsterRun:
    """The run in DAGSTER_HOME that is still STARTED and holds the DuckDB pool slot, as a kill -9 leaves it."""
    with dg.DagsterInstance.get() as instance:
        (run,) = [run for run in runs_of(instance) if run_status(instance, run.run_id) == STARTED]
        assert duckdb_slot_holders(instance) == [run.run_id]
    return run


def export_then_add_late_data(workspace) -> list[UsageEvent]:
    """A good export of the window, then Dify gets two more workflow runs on a day of it; the events before."""
    assert main(export_args(FIRST, LAST)) == 0
    before = truth(workspace, FIRST, LAST)
    app = next(
        a
        for a in workspace.apps.values()
        if a.mode == "workflow"
        and a.status == "normal"
        and any(workspace.log_of_run(run.id) for run in workspace.runs_of(a.id))
    )
    add_workflow_runs(workspace, app.id, [datetime(2026, 6, 3, hour, tzinfo=UTC) for hour in (9, 15)])
    assert len(truth(workspace, FIRST, LAST)) > len(before)
    return before


def assert_failed_and_slot_free(run_id: str) -> None:
    with dg.DagsterInstance.get() as instance:
        assert run_status(instance, run_id) == FAILURE
        assert duckdb_slot_holders(instance) == []


def assert_recovered_to_the_truth(meter: MeterSetup, workspace) -> None:
    events = truth(workspace, FIRST, LAST)
    assert events, "the workspace must have usage in the window"
    assert_duckdb_holds(meter.store, events)
    assert api_meter_holds(meter.api_meter) == api_meter_truth(events)
    assert open_spool_days(meter.store) == []


def rerun_export(meter: MeterSetup, killed: dg.DagsterRun) -> None:
    """The normal re-run: `dify-meter export` of the same range completes instead of waiting for the dead run."""
    rerun = run_command(meter_command(*export_args(FIRST, LAST)), meter.env())
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    assert f"Run {killed.run_id} was still marked in progress but its process is gone" in rerun.stdout


@pytest.mark.parametrize(
    ("path", "after", "staged"),
    [
        ("/workflow-app-logs", 2, False),  # mid-scan: lists being read, nothing staged yet
        ("/statistics/token-costs", 1, True),
    ],  # the scan is over: every event staged, none moved into the table
    ids=["mid-scan", "all staged"],
)
def test_killed_while_fetching_keeps_the_previous_rows_then_a_normal_rerun_heals(path, after, staged, meter, workspace):
    before = export_then_add_late_data(workspace)
    served_before = len(meter.dify.request_log)
    freeze_at = FreezeScan(path, after)
    meter.dify.intercept(freeze_at)
    with child_process(materialize_command(FIRST, LAST), meter.env(), meter.root / "killed.log") as child:
        child.wait_for(freeze_at.frozen.is_set, "the fetch to reach the request it is frozen at")
        served = [record.path for record in meter.dify.request_log[served_before:]]
        assert "/console/api/apps" in served and any(p.endswith("/workflow-app-logs") for p in served)
        assert not any("token-costs" in p for p in served)  # Dify's statistics, read last, not answered yet
        with meter.store.connect_read_only(wait_seconds=WAIT_SECONDS) as conn:
            (staged_rows,) = conn.execute("SELECT count(*) FROM raw_usage_events_staging").fetchone()
        assert (staged_rows > 0) == staged
        killed = the_killed_run()
        child.kill()
    freeze_at.release()
    meter.dify.clear_hooks()
    assert_duckdb_holds(meter.store, before)  # whatever the dead run had staged, the tables are as they were

    rerun_export(meter, killed)
    assert_failed_and_slot_free(killed.run_id)
    assert_recovered_to_the_truth(meter, workspace)


def test_killed_inside_the_aggregate_transaction_keeps_the_previous_rows_then_a_rerun_heals(meter, workspace):
    before = export_then_add_late_data(workspace)
    marker = meter.root / "inside-the-transaction"
    command = [sys.executable, "-m", "dify_meter_tests.resilience.paused_child", str(marker), *export_args(FIRST, LAST)]
    with child_process(command, meter.env(), meter.root / "killed.log") as child:
        child.wait_for(marker.exists, "the per-model aggregate to be inside its transaction")
        killed = the_killed_run()
        child.kill()
    # The raw step had committed the new rows; the killed transaction had deleted the window's per-model rows
    # and inserted nothing. DuckDB rolls it back: the previous per-model rows are all there.
    after = truth(workspace, FIRST, LAST)
    assert sorted(e.event_id for e in stored_events(meter.store)) == sorted(e.event_id for e in after)
    with meter.store.connect_read_only(wait_seconds=WAIT_SECONDS) as conn:
        assert actual(conn, "per_model") == expected(before, "per_model")

    rerun_export(meter, killed)
    assert_failed_and_slot_free(killed.run_id)
    assert_recovered_to_the_truth(meter, workspace)


def test_killed_mid_request_to_api_meter_then_the_sensor_replays_the_days(meter, workspace):
    meter.api_meter.hold_next()
    with child_process(materialize_command(FIRST, LAST), meter.env(), meter.root / "killed.log") as child:
        child.wait_for(meter.api_meter.arrived.is_set, "the delivery to reach API_Meter")
        killed = the_killed_run()
        child.kill()
    meter.api_meter.release()  # API_Meter applies the request whose sender is dead: nobody records the answer
    wait_for(lambda: meter.api_meter.request_log, "API_Meter to apply the held request")
    with meter.store.connect_read_only(wait_seconds=WAIT_SECONDS) as conn:
        in_flight = conn.execute("SELECT usage_date, status, last_error FROM api_meter_spool").fetchall()
        delivered = conn.execute("SELECT count(*) FROM api_meter_ledger WHERE outcome = 'delivered'").fetchone()
    assert sorted(day for day, _, _ in in_flight) == DAYS and delivered == (0,)
    assert all(status == "pending" and "did not report back" in error for _, status, error in in_flight)

    resources = resources_on(meter.store.path)
    with dg.DagsterInstance.get() as instance:
        # What every dify-meter command does first: the daemon cannot see that a shell run's process died.
        assert fail_stale_runs(instance).failed == [killed.run_id]
        assert duckdb_slot_holders(instance) == []
        with dg.build_sensor_context(instance=instance, resources=resources) as context:
            assert isinstance(spool_replay_sensor(context), dg.SkipReason)  # the first replay waits for its backoff
        with meter.store.connect() as conn:
            conn.execute("UPDATE api_meter_spool SET next_attempt_at = now() - INTERVAL 1 MINUTE")
        with dg.build_sensor_context(instance=instance, resources=resources) as context:
            requests = spool_replay_sensor(context).run_requests
    assert sorted(request.partition_key for request in requests) == [str(day) for day in DAYS]
    for request in requests:
        day = date.fromisoformat(request.partition_key)
        assert materialize(defs(), ["api_meter_sent"], day, day, tags=request.tags).success

    assert_failed_and_slot_free(killed.run_id)
    assert_recovered_to_the_truth(meter, workspace)


def test_killed_mid_request_then_spool_replay_from_the_shell(meter, workspace):
    meter.api_meter.hold_next()
    command = meter_command(*export_args(FIRST, LAST))
    with child_process(command, meter.env(), meter.root / "killed.log") as child:
        child.wait_for(meter.api_meter.arrived.is_set, "the delivery to reach API_Meter")
        killed = the_killed_run()
        child.kill()
    meter.api_meter.release()

    replay = run_command(meter_command("spool", "replay"), meter.env())
    assert replay.returncode == 0, replay.stdout[-3000:] + replay.stderr[-3000:]
    assert f"Run {killed.run_id} was still marked in progress but its process is gone" in replay.stdout
    assert all(f"{day}: delivered" in replay.stdout for day in DAYS)
    assert_failed_and_slot_free(killed.run_id)
    assert_recovered_to_the_truth(meter, workspace)
