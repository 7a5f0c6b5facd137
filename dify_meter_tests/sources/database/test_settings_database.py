"""The database source's settings: defaults, validation, and a URL whose password never shows."""

from __future__ import annotations

import pytest

from dify_meter.settings import SettingsError, load_settings

WORKSPACE = "bc7707d9-0233-49fd-8a56-07e7cfcf41ae"


def test_defaults_keep_the_console_source() -> None:
    settings = load_settings()
    assert (settings.dify_source, settings.dify_database_url) == ("console", None)
    assert (settings.dify_database_statement_timeout_seconds, settings.dify_database_lock_timeout_seconds) == (300, 5)


def test_the_database_source_needs_its_url_and_the_tenant() -> None:
    with pytest.raises(SettingsError, match=r"needs DIFY_DATABASE_URL \(postgresql://.*\) and DIFY_WORKSPACE_ID"):
        load_settings(dify_source="database", dify_workspace_id=WORKSPACE)
    settings = load_settings(
        dify_source="Database",
        dify_workspace_id=WORKSPACE,
        dify_database_url="postgresql://ro:pw-1234@replica:5432/dify",
    )
    assert settings.dify_source == "database"
    assert "pw-1234" not in repr(settings) and "pw-1234" not in str(settings.model_dump())


def test_a_url_that_is_not_postgresql_is_named_without_its_password() -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings(dify_database_url="mysql://ro:pw-5678@db/dify")
    assert "DIFY_DATABASE_URL" in str(raised.value) and "pw-5678" not in str(raised.value)


@pytest.mark.parametrize("field", ["dify_database_statement_timeout_seconds", "dify_database_lock_timeout_seconds"])
def test_timeouts_must_be_positive(field: str) -> None:
    with pytest.raises(SettingsError, match=field.upper()):
        load_settings(**{field: 0})
