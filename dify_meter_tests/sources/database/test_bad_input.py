"""Bad input gets a clear message without the password, and usage that is not in PostgreSQL fails the day."""

from __future__ import annotations

import dataclasses
import threading
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from dify_meter.sandbox.dify.postgres import free_port
from dify_meter.sources.database.errors import DatabaseSourceError, ReplicaLagError
from dify_meter.sources.database.reader import read_usage_events
from dify_meter.sources.database.replica import ReplicaState, replica_lag
from dify_meter_tests.sources.database.support import DatabaseEventList, read_database
from dify_meter_tests.support.postgres import (
    READ_ONLY_PASSWORD,
    SUPERUSER_PASSWORD,
    TENANT_ID,
    EmbeddedPostgres,
)

pytestmark = pytest.mark.integration

NOV_10 = (datetime(2026, 11, 10, tzinfo=UTC), datetime(2026, 11, 11, tzinfo=UTC))
WORKFLOW_RUN = "f1000000-0000-4000-8000-000000000001"  # Invoice Pipeline's app-run of Nov 10
WORKFLOW_LLM_NODE = "71000000-0000-4000-8000-000000000008"


def failure(url: str, workspace_id: str = TENANT_ID, **options: object) -> str:
    with pytest.raises(DatabaseSourceError) as raised:
        read_database(url, workspace_id, NOV_10, "UTC", **options)
    message = str(raised.value)
    for secret in (SUPERUSER_PASSWORD, READ_ONLY_PASSWORD):
        assert secret not in message
    return message


def test_a_wrong_password_is_named_without_the_password(postgres: EmbeddedPostgres) -> None:
    message = failure(postgres.url(password="not-the-password-x"))
    assert "password authentication failed" in message and "not-the-password-x" not in message
    assert f"postgres@127.0.0.1:{postgres.port}/postgres" in message


def test_nothing_listening_and_a_missing_database(postgres: EmbeddedPostgres) -> None:
    closed = postgres.url().replace(f":{postgres.port}/", f":{free_port()}/")
    assert "cannot connect" in failure(closed, connect_timeout_seconds=2)
    assert 'database "no_such_db" does not exist' in failure(postgres.url("no_such_db"))


def test_ssl_required_by_the_url_but_not_offered(postgres: EmbeddedPostgres) -> None:
    assert "SSL" in failure(postgres.url() + "?sslmode=require")


def test_a_malformed_url_is_named_without_its_password() -> None:
    message = failure("postgresql://u:url-secret-pw@host:notaport/db?no_such_option=1")
    assert "cannot connect" in message and "no_such_option" in message and "url-secret-pw" not in message


def test_a_workspace_that_is_no_tenant(postgres: EmbeddedPostgres) -> None:
    url = postgres.database("1.12.1")
    assert "is not a tenant" in failure(url, "00000000-0000-4000-8000-000000000000")
    assert "is not a UUID" in failure(url, "my-workspace")


def test_a_missing_column_and_a_missing_grant_are_named(postgres: EmbeddedPostgres) -> None:
    url = postgres.database("1.12.1")
    role_url = postgres.grant_read_only_role(url)
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute("REVOKE SELECT ON workflow_app_logs FROM dify_meter_ro")
    assert "permission denied for table workflow_app_logs" in failure(role_url)
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute("ALTER TABLE messages DROP COLUMN message_metadata")
    assert "message_metadata does not exist" in failure(url)


def test_a_statement_timeout_and_a_lock_timeout(postgres: EmbeddedPostgres) -> None:
    url = postgres.database("1.12.1")
    with psycopg.connect(url) as migration:  # a Dify migration holding its ALTER TABLE lock
        migration.execute("LOCK TABLE messages IN ACCESS EXCLUSIVE MODE")
        assert "lock timeout" in failure(url, lock_timeout_seconds=0.2)
        assert "statement timeout (0.3 s)" in failure(url, lock_timeout_seconds=30, statement_timeout_seconds=0.3)


def test_a_connection_dropped_mid_stream_fails_the_day(postgres: EmbeddedPostgres) -> None:
    url = postgres.database("1.12.1")
    sink = DatabaseEventList()
    dropped = threading.Event()

    def drop_on_first_batch(events: object) -> None:
        if not dropped.is_set():
            dropped.set()
            with psycopg.connect(url, autocommit=True) as admin:
                admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = 'dify_meter' AND datname = current_database()"
                )

    sink.write = drop_on_first_batch  # type: ignore[method-assign]
    with pytest.raises(DatabaseSourceError) as raised:
        read_usage_events(url, TENANT_ID, *NOV_10, timezone="UTC", sink=sink)
    assert dropped.is_set() and SUPERUSER_PASSWORD not in str(raised.value)


def test_runs_whose_nodes_are_not_in_postgres_fail_the_day(postgres: EmbeddedPostgres) -> None:
    url = postgres.database("1.12.1")
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute("DELETE FROM workflow_node_executions WHERE workflow_run_id = %s", [WORKFLOW_RUN])
    message = failure(url)
    assert WORKFLOW_RUN in message and "WORKFLOW_NODE_EXECUTION_STORAGE" in message


def test_an_offloaded_node_without_its_usage_fails_the_day_and_one_without_offload_warns(
    postgres: EmbeddedPostgres,
) -> None:
    url = postgres.database("1.12.1")
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(
            'UPDATE workflow_node_executions SET process_data = \'{"model_mode": "chat"}\', '
            'outputs = \'{"text": "x"}\' WHERE id = %s',
            [WORKFLOW_LLM_NODE],
        )
    read = read_database(url, TENANT_ID, NOV_10, "UTC")
    assert WORKFLOW_LLM_NODE not in {event.event_id for event in read.events}
    assert [warning for warning in read.result.warnings if WORKFLOW_LLM_NODE in warning and "no usage split" in warning]
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(
            "CREATE TABLE workflow_node_execution_offload (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), "
            "node_execution_id uuid, type varchar(32), file_id uuid)"
        )
        admin.execute(
            "INSERT INTO workflow_node_execution_offload (node_execution_id, type) VALUES (%s, 'process_data')",
            [WORKFLOW_LLM_NODE],
        )
    message = failure(url)
    assert "offloaded to file storage" in message and WORKFLOW_LLM_NODE in message


def test_a_replica_that_has_not_replayed_the_window_fails_the_day() -> None:
    end = NOV_10[1]
    later = end + timedelta(hours=1)
    lag = replica_lag(ReplicaState(True, end - timedelta(seconds=1)), end, later)
    assert isinstance(lag, ReplicaLagError) and "read this day again later" in str(lag)
    assert "GRANT pg_read_all_stats" in str(lag)  # the role cannot see the WAL receiver: say how it could
    assert isinstance(replica_lag(ReplicaState(True, None), end, later), ReplicaLagError)
    assert replica_lag(ReplicaState(True, end), end, later) is None  # replayed past the window's end
    today = ReplicaState(True, later - timedelta(seconds=1))
    assert replica_lag(today, later + timedelta(hours=1), later) is not None
    assert replica_lag(ReplicaState(False, None), end, later) is None  # a primary
    # Dify idle since: the primary reported its WAL end after the window, and replay has reached it
    idle = ReplicaState(True, end - timedelta(hours=2), primary_end_reported_at=later, replay_behind_primary=False)
    assert replica_lag(idle, end, later) is None
    behind = ReplicaState(True, end - timedelta(hours=2), primary_end_reported_at=later, replay_behind_primary=True)
    assert "GRANT" not in str(replica_lag(behind, end, later))
    stale = ReplicaState(True, end - timedelta(hours=2), primary_end_reported_at=end - timedelta(minutes=1))
    assert replica_lag(dataclasses.replace(stale, replay_behind_primary=False), end, later) is not None


def test_the_primary_passes_the_replica_check(postgres: EmbeddedPostgres) -> None:
    read = read_database(postgres.database("1.12.1"), TENANT_ID, NOV_10, "UTC")
    assert read.result.days_read == 1 and read.events
