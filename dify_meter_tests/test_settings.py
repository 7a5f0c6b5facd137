from datetime import date

import pytest

from dify_meter.settings import SettingsError, load_settings
from dify_meter_tests.support.environment import ALL_VARIABLES


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch, tmp_path):
    for name in ALL_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env


def test_defaults_are_those_of_the_configuration_spec():
    s = load_settings()
    assert (s.dify_timezone, s.dify_partitions_start, s.dify_aggregation_period, s.dify_output_mode) == (
        "UTC",
        date(2025, 1, 1),
        "daily",
        "per_model",
    )
    assert (s.dify_max_run_seconds, s.dify_max_concurrency, s.dify_detail_reads, s.dify_lookback_days) == (
        3600,
        8,
        "auto",
        2,
    )
    assert s.dify_meter_duckdb == "data/dify_meter.duckdb"
    assert (s.api_meter_batch_size, s.api_meter_timeout_seconds, s.max_retries) == (500, 30, 3)
    assert (s.schedule_enabled, s.schedule_cron, s.log_level) == (False, "0 1 * * *", "info")


def test_default_export_range_is_the_previous_month():
    assert load_settings().default_export_range(date(2026, 3, 15)) == (date(2026, 2, 1), date(2026, 2, 28))
    assert load_settings().default_export_range(date(2026, 1, 1)) == (date(2025, 12, 1), date(2025, 12, 31))


def test_dot_env_is_read(tmp_path):
    (tmp_path / ".env").write_text("DIFY_TIMEZONE=Asia/Tokyo\nDIFY_OUTPUT_MODE=ALL\n")
    s = load_settings()
    assert (s.dify_timezone, s.dify_output_mode) == ("Asia/Tokyo", "all")


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("DIFY_TIMEZONE", "Mars/Olympus", "IANA timezone"),
        ("DIFY_MAX_CONCURRENCY", "many", "valid integer"),
        ("DIFY_MAX_CONCURRENCY", "0", "greater than or equal to 1"),
        ("DIFY_PARTITIONS_START", "01/02/2025", "date"),
        ("DIFY_OUTPUT_MODE", "per_team", "per_model"),
        ("DIFY_DETAIL_READS", "sometimes", "never"),
        ("DIFY_API_URL", "dify.example.com", "http(s) URL"),
        ("API_METER_URL", "http://meter.example.com", "https://"),
        ("API_METER_TENANT_ID", "tenant-1", "UUID"),
        ("SCHEDULE_CRON", "every day", "cron"),
        ("SCHEDULE_ENABLED", "maybe", "boolean"),
        ("LOG_LEVEL", "loud", "debug"),
    ],
)
def test_a_bad_value_names_the_variable(monkeypatch, variable, value, expected):
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as error:
        load_settings()
    assert variable in str(error.value)
    assert expected in str(error.value)


def test_start_after_end_is_an_error(monkeypatch):
    monkeypatch.setenv("DIFY_START_DATE", "2026-02-10")
    monkeypatch.setenv("DIFY_END_DATE", "2026-02-01")
    with pytest.raises(SettingsError, match="DIFY_START_DATE .* is after DIFY_END_DATE"):
        load_settings()


def test_secrets_never_appear_in_errors_or_repr(monkeypatch):
    monkeypatch.setenv("DIFY_API_KEY", "super-secret-admin-key")
    monkeypatch.setenv("API_METER_TOKEN", "super-secret-meter-token")
    monkeypatch.setenv("DIFY_MAX_CONCURRENCY", "x")
    with pytest.raises(SettingsError) as error:
        load_settings()
    assert "super-secret" not in str(error.value)
    monkeypatch.delenv("DIFY_MAX_CONCURRENCY")
    assert "super-secret" not in repr(load_settings())


def test_require_dify_names_what_is_missing(monkeypatch):
    with pytest.raises(SettingsError, match="DIFY_API_URL"):
        load_settings().require_dify()
    monkeypatch.setenv("DIFY_API_URL", "http://127.0.0.1:5001")
    with pytest.raises(SettingsError, match="DIFY_API_KEY and DIFY_WORKSPACE_ID"):
        load_settings().require_dify()
    monkeypatch.setenv("DIFY_API_KEY", "k")
    with pytest.raises(SettingsError, match="DIFY_WORKSPACE_ID is required"):
        load_settings().require_dify()
    monkeypatch.setenv("DIFY_WORKSPACE_ID", "w")
    load_settings().require_dify()


def test_require_api_meter_names_what_is_missing(monkeypatch):
    monkeypatch.setenv("API_METER_URL", "https://meter.example.com")
    with pytest.raises(SettingsError, match="API_METER_TOKEN, API_METER_TENANT_ID"):
        load_settings().require_api_meter()


def test_a_blank_line_in_dot_env_counts_as_unset(tmp_path):
    (tmp_path / ".env").write_text(
        "DIFY_API_URL=http://127.0.0.1:5001\nDIFY_API_KEY=\nDIFY_EMAIL=meter@example.com\nDIFY_PASSWORD=pw\n"
    )
    settings = load_settings()
    assert settings.dify_api_key is None
    settings.require_dify()  # the service account is complete; the empty key does not demand a workspace id


def test_log_level_sets_the_level_of_the_project_loggers(monkeypatch):
    import logging

    from dify_meter.defs.resources import build_resources

    monkeypatch.setenv("LOG_LEVEL", "warn")
    build_resources(load_settings()).resolved()  # as a run starts: the resources are set up
    assert logging.getLogger("dify_meter.sources.console.transport").getEffectiveLevel() == logging.WARNING
    monkeypatch.setenv("LOG_LEVEL", "debug")
    build_resources(load_settings()).resolved()
    assert logging.getLogger("dify_meter.sources.console.transport").getEffectiveLevel() == logging.DEBUG
    logging.getLogger("dify_meter").setLevel(logging.NOTSET)


def test_a_secret_set_only_in_dot_env_reaches_the_resources_as_an_env_var(tmp_path, monkeypatch):
    import dagster as dg

    from dify_meter.definitions import defs

    (tmp_path / ".env").write_text(
        "DIFY_API_URL=http://127.0.0.1:5001\nDIFY_API_KEY=from-dot-env\n"
        "DIFY_WORKSPACE_ID=ws\nAPI_METER_TOKEN=token-from-dot-env\n"
    )
    monkeypatch.setenv("API_METER_TOKEN", "token-from-the-environment")
    for name in ("DIFY_API_URL", "DIFY_API_KEY", "DIFY_WORKSPACE_ID"):
        monkeypatch.setenv(name, "")  # recorded as unset, so that the test's end removes what `.env` put there
        monkeypatch.delenv(name)
    dify = defs().resources["dify"]
    assert dify.api_key == dg.EnvVar("DIFY_API_KEY") and dify.api_url == "http://127.0.0.1:5001"
    assert "from-dot-env" not in repr(dify)  # the definitions hold the variable's name only
    resolved = dify.process_config_and_initialize()  # as a run does: from os.environ
    assert resolved.api_key == "from-dot-env" and "from-dot-env" not in repr(resolved)
    # A variable set in the environment wins over `.env`, as pydantic-settings has it.
    token = defs().resources["api_meter"].process_config_and_initialize().token
    assert token == load_settings().api_meter_token.get_secret_value() == "token-from-the-environment"
