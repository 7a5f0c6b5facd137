"""Fixtures of the CLI tests (cli/ and e2e/): the simulators and an environment configured against them.

Each folder's conftest imports them, so a test folder sees only the fixtures it asks for."""

from __future__ import annotations

from datetime import timedelta

import pytest

from dify_meter.sandbox.api_meter.server import DEFAULT_TENANT_ID, DEFAULT_TOKEN, ApiMeterServer
from dify_meter.sandbox.dify.generate import generate_workspace
from dify_meter.sandbox.dify.server import DifySimulator
from dify_meter_tests.support.cli import SAT

EXPORT_ENV = (
    "DIFY_START_DATE",
    "DIFY_END_DATE",
    "DIFY_OUTPUT_MODE",
    "DIFY_AGGREGATION_PERIOD",
    "DIFY_TIMEZONE",
    "DIFY_PARTITIONS_START",
    "DIFY_EMAIL",
    "DIFY_PASSWORD",
    "SCHEDULE_ENABLED",
)


@pytest.fixture
def workspace():
    return generate_workspace(seed=3, start_date=SAT - timedelta(days=1), days=5)


@pytest.fixture
def dify(workspace):
    with DifySimulator(workspace) as simulator:
        yield simulator


@pytest.fixture
def api_meter():
    with ApiMeterServer() as server:
        yield server


@pytest.fixture
def configured(tmp_path, dify, api_meter, monkeypatch):
    """Environment of a user whose Dify and API_Meter are the simulators; a .env elsewhere is not read."""
    monkeypatch.chdir(tmp_path)
    for name in EXPORT_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    monkeypatch.setenv("DIFY_METER_DUCKDB", str(tmp_path / "data" / "m.duckdb"))
    monkeypatch.setenv("DIFY_API_URL", dify.base_url)
    monkeypatch.setenv("DIFY_API_KEY", dify.api_key)
    monkeypatch.setenv("DIFY_WORKSPACE_ID", dify.workspace_id)
    monkeypatch.setenv("API_METER_URL", api_meter.base_url)
    monkeypatch.setenv("API_METER_TOKEN", DEFAULT_TOKEN)
    monkeypatch.setenv("API_METER_TENANT_ID", DEFAULT_TENANT_ID)
    monkeypatch.setenv("MAX_RETRIES", "0")
    return tmp_path
