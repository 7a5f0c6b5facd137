"""A run worker whose settings differ from the launcher's definitions fails at start, naming the variable."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.definitions.reconstruct import ReconstructableRepository
from dagster._grpc.types import ExecuteRunArgs
from dagster._serdes import serialize_value

from dify_meter.core.store import DuckDBStore
from dify_meter.definitions import defs
from dify_meter.usage.raw_events import replace_window
from dify_meter_tests.support.environment import ALL_VARIABLES
from dify_meter_tests.support.events import make_event

pytestmark = pytest.mark.e2e
DAY = date(2026, 11, 10)
REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def launcher(tmp_path, monkeypatch) -> Path:
    """A DAGSTER_HOME, a store with one day, and the launcher's environment (DIFY_TIMEZONE=UTC)."""
    for name in ALL_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    home = tmp_path / "dagster_home"
    home.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("DIFY_METER_DUCKDB", str(tmp_path / "m.duckdb"))
    monkeypatch.setenv("DIFY_TIMEZONE", "UTC")
    monkeypatch.chdir(tmp_path)  # no stray .env
    with DuckDBStore(tmp_path / "m.duckdb").connect() as conn:
        replace_window(conn, DAY, DAY, [make_event("a", DAY)])
    return home


def launch_and_run_in_worker(worker_env: dict[str, str]) -> tuple[dg.DagsterRun, str]:
    """Make the run as the webserver does (from this process's definitions), then execute it as a launched
    run's worker does: `dagster api execute_run` in a new process, which re-imports the code location."""
    job = defs().resolve_implicit_global_asset_job_def()
    with dg.DagsterInstance.get() as instance:
        run = instance.create_run_for_job(
            job_def=job.get_subset(asset_selection={dg.AssetKey("usage_workspace")}),
            asset_selection=frozenset({dg.AssetKey("usage_workspace")}),
            tags={"dagster/partition": DAY.isoformat()},
            job_code_origin=ReconstructableRepository.for_module(
                "dify_meter.definitions", "defs", working_directory=str(REPO_ROOT)
            )
            .get_reconstructable_job(job.name)
            .get_python_origin(),
        )
        arguments = ExecuteRunArgs(job_origin=run.job_code_origin, run_id=run.run_id, instance_ref=instance.get_ref())
        subprocess.run(
            [sys.executable, "-m", "dagster", "api", "execute_run", serialize_value(arguments)],
            env={**os.environ, **worker_env},
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
        finished = instance.get_run_by_id(run.run_id)
        assert finished is not None
        errors = [
            entry.dagster_event.event_specific_data.error.to_string()  # type: ignore[union-attr]
            for entry in instance.all_logs(run.run_id)
            if entry.dagster_event
            and entry.dagster_event.is_failure
            and getattr(entry.dagster_event.event_specific_data, "error", None)
        ]
        return finished, "\n".join(errors)


def test_a_worker_with_the_launchers_settings_runs(launcher):
    run, errors = launch_and_run_in_worker({})
    assert run.status == dg.DagsterRunStatus.SUCCESS, errors


def test_a_worker_with_another_timezone_fails_at_start_naming_it(launcher):
    run, errors = launch_and_run_in_worker({"DIFY_TIMEZONE": "Europe/Berlin"})
    assert run.status == dg.DagsterRunStatus.FAILURE
    assert "DIFY_TIMEZONE is 'Europe/Berlin' here but was 'UTC'" in errors
    assert "DIFY_OUTPUT_MODE" not in errors and "DIFY_PARTITIONS_START" not in errors
