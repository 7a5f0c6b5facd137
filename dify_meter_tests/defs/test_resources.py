"""The resources the factory fills from the settings, and the objects they build."""

from __future__ import annotations

import pytest

from dify_meter.core.store import DuckDBStore
from dify_meter.defs.resources import SOURCES, DifyResource, build_resources
from dify_meter.settings import DIFY_SOURCES, SettingsError, load_settings
from dify_meter.sources.console.source import ConsoleSource
from dify_meter.sources.database.source import DatabaseSource


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


def test_every_dify_source_setting_has_a_source():
    assert tuple(SOURCES) == DIFY_SOURCES


@pytest.mark.parametrize("api_url", [None, "http://127.0.0.1:5001"])
def test_the_database_source_takes_its_settings_and_uses_the_console_only_for_statistics(tmp_path, api_url):
    settings = load_settings(
        _env_file=None,
        dify_source="database",
        dify_workspace_id="bc7707d9-0233-49fd-8a56-07e7cfcf41ae",
        dify_database_url="postgresql://reader:pw-secret@127.0.0.1:5432/dify",
        dify_database_statement_timeout_seconds=60,
        dify_database_lock_timeout_seconds=2,
        dify_api_url=api_url,
        dify_api_key="key" if api_url else None,
        dify_timezone="Asia/Tokyo",
    )
    dify = build_resources(settings, secrets_from_env=False).dify
    source = dify.usage_source(DuckDBStore(tmp_path / "m.duckdb"))
    assert isinstance(source, DatabaseSource)
    assert (source.target.statement_timeout_seconds, source.target.lock_timeout_seconds) == (60, 2)
    assert (source.workspace_id, source.timezone) == ("bc7707d9-0233-49fd-8a56-07e7cfcf41ae", "Asia/Tokyo")
    assert (source.console_totals is not None) == (api_url is not None)
    assert "pw-secret" not in repr(source.target) + repr(dify)


def test_the_database_source_without_its_url_is_refused_by_name(tmp_path):
    dify = DifyResource(source="database", workspace_id="ws")
    with pytest.raises(SettingsError, match="DIFY_SOURCE=database needs DIFY_DATABASE_URL"):
        dify.usage_source(DuckDBStore(tmp_path / "m.duckdb"))
