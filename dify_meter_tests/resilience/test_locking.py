"""Three users of one DuckDB file at once: a 30-day single-run backfill (one run with the range tags, as the UI
launches it), the spool sensor ticking again and again, and a CLI export of other days started meanwhile.
Nobody sees a lock error, everything completes, and the numbers are exact."""

from __future__ import annotations

import time
from datetime import date, timedelta

import dagster as dg
import pytest

from dify_meter.cli.main import main
from dify_meter.definitions import defs
from dify_meter.defs.runs import materialize
from dify_meter.sandbox.dify.generate import generate_workspace
from dify_meter.sandbox.dify.server import DifySimulator
from dify_meter_tests.support.resilience import (
    WAIT_SECONDS,
    FreezeScan,
    HoldingApiMeter,
    MeterSetup,
    api_meter_holds,
    api_meter_truth,
    assert_duckdb_holds,
    child_process,
    export_args,
    materialize_command,
    meter_command,
    open_spool_days,
    run_status,
    runs_of,
    truth,
)
from dify_meter_tests.support.settings import resources_on

spool_replay_sensor = defs().resolve_sensor_def("spool_replay_sensor")  # as the code location builds it
pytestmark = [pytest.mark.resilience, pytest.mark.e2e]
BACKFILL_FIRST, BACKFILL_LAST = date(2026, 5, 1), date(2026, 5, 30)
EXPORT_FIRST, EXPORT_LAST = date(2026, 5, 31), date(2026, 6, 1)
SPOOLED = date(2026, 6, 2)  # its delivery failed before: the sensor has a replay to offer throughout
TICK_SECONDS = 0.5  # 120 times as often as in production (minimum_interval_seconds=60)
LOCK_TROUBLE = ("Could not set lock", "Conflicting lock", "locked by another process", "Traceback")


def tick(instance: dg.DagsterInstance, store_path: str) -> dg.SensorResult | dg.SkipReason:
    resources = resources_on(store_path)
    with dg.build_sensor_context(instance=instance, resources=resources) as context:
        return spool_replay_sensor(context)


def waiting_for_the_pool(instance: dg.DagsterInstance, run_id: str) -> bool:
    """Whether a step of another run than `run_id` waits for the duckdb pool slot."""
    pending = instance.event_log_storage.get_concurrency_info("duckdb").pending_steps
    return any(step.run_id != run_id and step.assigned_timestamp is None for step in pending)


def test_a_backfill_the_sensor_and_an_export_share_the_file_without_a_lock_error(tmp_path, monkeypatch, capsys):
    workspace = generate_workspace(seed=17, start_date=BACKFILL_FIRST - timedelta(days=1), days=35, scale=0.15)
    with DifySimulator(workspace) as dify, HoldingApiMeter() as api_meter:
        meter = MeterSetup(tmp_path, dify, api_meter)
        meter.apply(monkeypatch)
        api_meter.fail_next(2, status=503)  # the send and its one retry
        assert main(["export", "--date", str(SPOOLED), "--mode", "all"]) == 1
        assert open_spool_days(meter.store) == [SPOOLED]
        with meter.store.connect() as conn:  # its first replay is due now rather than in five minutes
            conn.execute("UPDATE api_meter_spool SET next_attempt_at = now() - INTERVAL 1 MINUTE")
        capsys.readouterr()

        freeze = FreezeScan("/chat-messages", after=20)
        dify.intercept(freeze)  # the backfill's fetch waits mid-scan until the export queued behind it
        ticks: list[dg.SensorResult | dg.SkipReason] = []
        with (
            dg.DagsterInstance.get() as instance,
            child_process(
                materialize_command(BACKFILL_FIRST, BACKFILL_LAST), meter.env(), tmp_path / "backfill.log"
            ) as backfill,
        ):
            deadline = time.monotonic() + WAIT_SECONDS
            while not freeze.frozen.is_set():
                assert time.monotonic() < deadline and backfill.process.poll() is None, backfill.output[-3000:]
                time.sleep(0.05)
            (backfill_run,) = [
                run for run in runs_of(instance) if run_status(instance, run.run_id) == dg.DagsterRunStatus.STARTED
            ]
            with child_process(
                meter_command(*export_args(EXPORT_FIRST, EXPORT_LAST)), meter.env(), tmp_path / "export.log"
            ) as export:
                while not waiting_for_the_pool(instance, backfill_run.run_id):
                    assert time.monotonic() < deadline and export.process.poll() is None, export.output[-3000:]
                    ticks.append(tick(instance, str(meter.store.path)))
                    time.sleep(TICK_SECONDS)
                freeze.release()
                while backfill.process.poll() is None or export.process.poll() is None:
                    assert time.monotonic() < deadline, "the backfill and the export did not finish"
                    ticks.append(tick(instance, str(meter.store.path)))
                    time.sleep(TICK_SECONDS)
                assert backfill.process.returncode == 0, backfill.output[-3000:]
                assert export.process.returncode == 0, export.output[-3000:]
                export_output = export.output
            backfill_output = backfill.output
            (request,) = tick(instance, str(meter.store.path)).run_requests  # the spooled day, still due

        assert materialize(defs(), ["api_meter_sent"], SPOOLED, SPOOLED, tags=request.tags).success
        events = truth(workspace, BACKFILL_FIRST, SPOOLED)
        assert_duckdb_holds(meter.store, events)
        assert api_meter_holds(api_meter) == api_meter_truth(events)
        assert open_spool_days(meter.store) == []

    assert f"Run {backfill_run.run_id} is in progress: this export waits for it" in export_output
    for trouble in LOCK_TROUBLE:
        assert trouble not in export_output and trouble not in backfill_output, trouble
    assert len(ticks) >= 10 and all(isinstance(result, dg.SkipReason | dg.SensorResult) for result in ticks)
