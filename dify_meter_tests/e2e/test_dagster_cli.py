"""The shell forms users run, as subprocesses against the Dify simulator on loopback."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest

from dify_meter.core.store import DuckDBStore
from dify_meter.sandbox.api_meter.server import DEFAULT_TENANT_ID, DEFAULT_TOKEN, ApiMeterServer
from dify_meter.sandbox.dify.generate import generate_workspace
from dify_meter.sandbox.dify.server import DifySimulator
from dify_meter_tests.support.console import assert_same_events
from dify_meter_tests.support.events import day_window, stored_events

pytestmark = pytest.mark.e2e
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def dagster_env(tmp_path: Path, simulator: DifySimulator, timezone: str) -> dict[str, str]:
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(PROJECT_ROOT / "dify_meter/defs/templates/dagster.yaml", home / "dagster.yaml")
    return {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "DIFY_API_URL": simulator.base_url,
        "DIFY_API_KEY": simulator.api_key,
        "DIFY_WORKSPACE_ID": simulator.workspace_id,
        "DIFY_TIMEZONE": timezone,
        "DIFY_PARTITIONS_START": "2026-01-01",
        "DIFY_METER_DUCKDB": str(tmp_path / "m.duckdb"),
    }


def materialize(env: dict[str, str], *partition_args: str, select: str = "raw_usage_events"):
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "dagster",
            "asset",
            "materialize",
            "--select",
            select,
            *partition_args,
            "-m",
            "dify_meter.definitions",
        ],
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_partition_range_from_the_shell_across_a_dst_change(tmp_path):
    first, last, timezone = date(2026, 10, 31), date(2026, 11, 2), "America/New_York"
    workspace = generate_workspace(seed=3, start_date=first - timedelta(days=1), days=5)
    with DifySimulator(workspace) as simulator:
        result = materialize(dagster_env(tmp_path, simulator, timezone), "--partition-range", f"{first}...{last}")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "RUN_SUCCESS" in result.stdout + result.stderr
    start, end = day_window(first, last, timezone)
    assert_same_events(stored_events(DuckDBStore(tmp_path / "m.duckdb")), workspace.ground_truth(start, end, timezone))


def test_single_partition_with_everything_downstream_and_a_clear_config_error(tmp_path):
    day = date(2026, 6, 3)
    workspace = generate_workspace(seed=3, start_date=day - timedelta(days=1), days=3)
    with DifySimulator(workspace) as simulator, ApiMeterServer() as api_meter:
        env = {
            **dagster_env(tmp_path, simulator, "UTC"),
            "API_METER_URL": api_meter.base_url,
            "API_METER_TOKEN": DEFAULT_TOKEN,
            "API_METER_TENANT_ID": DEFAULT_TENANT_ID,
        }
        result = materialize(env, "--partition", day.isoformat(), select="raw_usage_events*")
        held_tokens = api_meter.totals().total_tokens
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        bad = materialize({**env, "DIFY_MAX_CONCURRENCY": "lots"}, "--partition", day.isoformat())
    with DuckDBStore(tmp_path / "m.duckdb").connect_read_only() as conn:
        raw_tokens = conn.execute("SELECT sum(total_tokens) FROM raw_usage_events").fetchone()[0]
        model_tokens = conn.execute("SELECT sum(total_tokens) FROM usage_per_model").fetchone()[0]
    start, end = day_window(day, day, "UTC")
    assert (
        raw_tokens
        == model_tokens
        == held_tokens
        == sum(e.total_tokens for e in workspace.ground_truth(start, end, "UTC"))
    )
    assert bad.returncode != 0
    assert "DIFY_MAX_CONCURRENCY" in bad.stdout + bad.stderr


def test_demo_runs_end_to_end_and_matches_the_ground_truth(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "dify_meter.cli.main", "demo", "--days", "2", "--home", str(tmp_path / "demo")],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "exact match" in result.stdout
    assert "| provider | model | requests |" in result.stdout


def test_demo_reads_the_same_workspace_from_an_embedded_dify_database(tmp_path):
    home = tmp_path / "demo"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "dify_meter.cli.main",
            "demo",
            "--days",
            "1",
            "--home",
            str(home),
            "--source",
            "database",
        ],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Dify's database (Dify 1.16.1 schema" in result.stdout and "exact match" in result.stdout
    assert "no console request" in result.stdout
    with duckdb.connect(str(home / "dify_meter.duckdb"), read_only=True) as conn:
        assert conn.execute("SELECT DISTINCT read_from FROM raw_usage_events").fetchall() == [("database",)]


def test_demo_ui_opens_the_dagster_ui_on_the_demo_home(tmp_path, monkeypatch):
    from dify_meter.cli import start as cli_start
    from dify_meter.cli.main import main

    served = []
    monkeypatch.setattr(
        cli_start,
        "serve",
        lambda host, port, settings: (
            served.append(
                (host, port, os.environ["DAGSTER_HOME"], os.environ["DIFY_METER_DUCKDB"], settings.dify_meter_duckdb)
            )
            or 0
        ),
    )
    for name in ("DAGSTER_HOME", "DIFY_METER_DUCKDB", "DIFY_TIMEZONE", "DIFY_PARTITIONS_START"):
        monkeypatch.setenv(name, "")  # recorded, so what the demo sets for the UI is undone after the test
        monkeypatch.delenv(name)
    assert main(["demo", "--days", "1", "--home", str(tmp_path / "demo"), "--ui", "--port", "3123"]) == 0
    ((host, port, home, duckdb_file, settings_duckdb_file),) = served
    assert (host, port) == ("127.0.0.1", 3123)
    assert home == str((tmp_path / "demo" / "dagster_home").resolve())
    assert duckdb_file == settings_duckdb_file == str((tmp_path / "demo" / "dify_meter.duckdb").resolve())
