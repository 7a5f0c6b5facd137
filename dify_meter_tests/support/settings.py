"""Settings pointing at a running Dify simulator and a test store."""

from __future__ import annotations

from dify_meter.core.store import DuckDBStore
from dify_meter.sandbox.dify.server import DifySimulator
from dify_meter.settings import load_settings


def settings_for(simulator: DifySimulator, store: DuckDBStore, timezone: str):
    return load_settings(
        _env_file=None, dify_api_url=simulator.base_url, dify_api_key=simulator.api_key,
        dify_workspace_id=simulator.workspace_id, dify_timezone=timezone, dify_meter_duckdb=str(store.path),
    )
