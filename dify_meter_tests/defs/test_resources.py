"""The resources the factory fills from the settings, and the objects they build."""

from __future__ import annotations

import pytest

from dify_meter.core.store import DuckDBStore
from dify_meter.defs.resources import build_resources
from dify_meter.settings import SettingsError, load_settings
from dify_meter.sources.console.source import ConsoleSource


def test_the_console_source_is_the_default_and_carries_the_settings(tmp_path):
    settings = load_settings(
        _env_file=None,
        dify_api_url="http://127.0.0.1:5001",
        dify_api_key="k",
        dify_workspace_id="ws",
        dify_timezone="Asia/Tokyo",
        dify_detail_reads="never",
    )
    source = build_resources(settings, secrets_from_env=False).dify.usage_source(DuckDBStore(tmp_path / "m.duckdb"))
    assert isinstance(source, ConsoleSource)
    assert (source.timezone, source.detail_reads, source.max_run_seconds) == ("Asia/Tokyo", "never", 3600)


def test_a_source_that_cannot_feed_the_pipeline_yet_is_named(tmp_path):
    settings = load_settings(
        _env_file=None,
        dify_source="database",
        dify_workspace_id="ws",
        dify_database_url="postgresql://reader:pw@127.0.0.1:5432/dify",
    )
    dify = build_resources(settings, secrets_from_env=False).dify
    with pytest.raises(SettingsError, match="DIFY_SOURCE=database cannot feed the pipeline yet"):
        dify.usage_source(DuckDBStore(tmp_path / "m.duckdb"))
