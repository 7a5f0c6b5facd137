"""Fixtures used by several test folders (api_meter/ and cli/): a reference API_Meter and a store aimed at it."""

from __future__ import annotations

import pytest

from dify_meter.core.store import DuckDBStore
from dify_meter.sandbox.api_meter.server import DEFAULT_TENANT_ID, DEFAULT_TOKEN, ApiMeterServer


@pytest.fixture
def server():
    with ApiMeterServer() as api_meter:
        yield api_meter


@pytest.fixture
def store(tmp_path, server, monkeypatch):
    monkeypatch.setenv("API_METER_URL", server.base_url)
    monkeypatch.setenv("API_METER_TOKEN", DEFAULT_TOKEN)
    monkeypatch.setenv("API_METER_TENANT_ID", DEFAULT_TENANT_ID)
    monkeypatch.setenv("MAX_RETRIES", "0")
    monkeypatch.setenv("DIFY_METER_DUCKDB", str(tmp_path / "m.duckdb"))
    return DuckDBStore(tmp_path / "m.duckdb")
