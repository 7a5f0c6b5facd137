"""Settings pointing at a running Dify simulator and a test store, and the code location's resources on them."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import dagster as dg

from dify_meter.core.retry import RetryPolicy
from dify_meter.core.store import DuckDBStore
from dify_meter.defs.resources import build_resources
from dify_meter.sandbox.dify.server import DifySimulator
from dify_meter.settings import Settings, load_settings
from dify_meter.usage.refresh import RawRefresh, refresh_raw_usage


def settings_for(simulator: DifySimulator, store: DuckDBStore, timezone: str):
    return load_settings(
        _env_file=None,
        dify_api_url=simulator.base_url,
        dify_api_key=simulator.api_key,
        dify_workspace_id=simulator.workspace_id,
        dify_timezone=timezone,
        dify_meter_duckdb=str(store.path),
    )


def refresh_raw(
    settings: Settings,
    store: DuckDBStore,
    window_start: datetime,
    window_end: datetime,
    *,
    retry: RetryPolicy | None = None,
) -> RawRefresh:
    """`refresh_raw_usage` with the source the code location's resources build from `settings`."""
    source = build_resources(settings, secrets_from_env=False).dify.usage_source(store, retry=retry)
    return refresh_raw_usage(source, store, window_start, window_end, settings.timezone)


def resources_on(store_path: str | Path) -> dict[str, dg.ConfigurableResource]:
    """The resources the code location builds from the environment, with the store at `store_path`."""
    return build_resources(load_settings(dify_meter_duckdb=str(store_path))).by_key()
