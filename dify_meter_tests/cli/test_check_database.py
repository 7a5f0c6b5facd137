"""`dify-meter check` with DIFY_SOURCE=database, through the CLI entry point, against a real PostgreSQL holding
Dify's real schema and recorded seed: as a superuser, as the GRANT script's role, and with what goes wrong."""

from __future__ import annotations

from datetime import date

import psycopg
import pytest

from dify_meter.sandbox.dify.generate import generate_workspace
from dify_meter.sandbox.dify.server import DifySimulator
from dify_meter_tests.support.cli import run_check
from dify_meter_tests.support.environment import ALL_VARIABLES
from dify_meter_tests.support.postgres import (
    READ_ONLY_PASSWORD,
    SUPERUSER_PASSWORD,
    TENANT_ID,
    postgres,
)

__all__ = ["postgres"]  # a fixture, found by pytest under this name
pytestmark = pytest.mark.e2e
DATABASE_VARIABLES = (
    "DIFY_SOURCE",
    "DIFY_DATABASE_URL",
    "DIFY_DATABASE_STATEMENT_TIMEOUT_SECONDS",
    "DIFY_DATABASE_LOCK_TIMEOUT_SECONDS",
)
NOT_A_TENANT = "0f0e0d0c-0b0a-4909-8807-060504030201"


@pytest.fixture
def environment(tmp_path, monkeypatch):
    """Only the database source configured: no Dify console, no API_Meter; a .env elsewhere is not read."""
    monkeypatch.chdir(tmp_path)
    for name in (*ALL_VARIABLES, *DATABASE_VARIABLES):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    monkeypatch.setenv("DIFY_SOURCE", "database")
    monkeypatch.setenv("DIFY_WORKSPACE_ID", TENANT_ID)
    monkeypatch.setenv("DIFY_OUTPUT_MODE", "workspace")  # sends nothing: API_Meter need not be configured
    return monkeypatch


def check(monkeypatch, capsys, url: str) -> tuple[int, str]:
    monkeypatch.setenv("DIFY_DATABASE_URL", url)
    code, out = run_check(capsys)
    assert SUPERUSER_PASSWORD not in out and READ_ONLY_PASSWORD not in out
    return code, out


def superuser(url: str, statement: str) -> None:
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(statement)


def test_a_superuser_passes_with_a_warning_quoting_the_grant_script(postgres, environment, capsys) -> None:
    code, out = check(environment, capsys, postgres.database("1.16.1"))
    assert code == 0, out
    assert "Dify database: OK" in out
    assert "  PASS server:          PostgreSQL 18." in out and ", a primary: " in out and "; role postgres" in out
    assert "  PASS Dify version:    1.16.1 (alembic head 6f5a9c2d8e1b)" in out
    assert "  PASS columns:         all 70 columns the source reads, in 9 tables, are readable" in out
    assert "  WARN write access:    role postgres is a superuser and could write to 16 of Dify's tables (" in out
    assert (
        "give it a role that cannot write: docs/dify-database-grants.sql (CREATE ROLE dify_meter_ro LOGIN PASSWORD "
        "'…'; ALTER ROLE dify_meter_ro SET default_transaction_read_only = on; GRANT SELECT (id, name, status) ON "
        "tenants TO dify_meter_ro; …)"
    ) in out
    assert "  PASS node executions: in PostgreSQL: the latest 7 ended runs all have node rows" in out
    assert "  PASS offloaded nodes: no workflow_node_execution_offload table" in out
    assert f"  PASS workspace:       Admin's Workspace ({TENANT_ID})" in out
    assert " (UTC) so far: 0 events (0 messages, 0 LLM node executions; a cheap count" in out
    assert "Dify console: not configured (DIFY_API_URL unset)" in out
    assert "Dify: OK" not in out and "API_Meter: not configured" in out  # no console check without DIFY_API_URL


def test_the_grant_scripts_role_gets_no_warning(postgres, environment, capsys) -> None:
    role = postgres.grant_read_only_role(postgres.database("1.12.1"))
    code, out = check(environment, capsys, role)
    assert code == 0, out
    assert "WARN" not in out and "FAIL" not in out
    assert "  PASS write access:    role dify_meter_ro can write to none of Dify's tables" in out
    assert "  PASS Dify version:    1.12.1 (alembic head 788d3099ae3a)" in out


def test_a_role_that_could_write_one_table_is_warned_about_it(postgres, environment, capsys) -> None:
    url = postgres.database("1.14.1")
    role = postgres.grant_read_only_role(url)
    superuser(url, "GRANT UPDATE (status) ON messages TO dify_meter_ro")
    code, out = check(environment, capsys, role)
    assert code == 0, out
    assert "  WARN write access:    role dify_meter_ro could write to 1 of Dify's tables (messages)." in out


def test_an_unreadable_column_fails_and_names_the_missing_grant(postgres, environment, capsys) -> None:
    url = postgres.database("1.16.1")
    role = postgres.grant_read_only_role(url)
    superuser(url, "REVOKE SELECT (invoke_from, message_metadata) ON messages FROM dify_meter_ro")
    superuser(url, "REVOKE SELECT ON alembic_version FROM dify_meter_ro")
    code, out = check(environment, capsys, role)
    assert code == 1, out
    assert "Dify database: FAILED" in out
    assert (
        "  FAIL columns:         role dify_meter_ro cannot read messages.message_metadata, messages.invoke_from; "
        "missing GRANT (from docs/dify-database-grants.sql): GRANT SELECT (message_metadata, invoke_from) ON messages "
        "TO dify_meter_ro; GRANT SELECT ON alembic_version TO dify_meter_ro;"
    ) in out
    assert (
        "  WARN Dify version:    alembic_version is not readable (GRANT SELECT ON alembic_version TO dify_meter_ro;); "
        "the schema looks like 1.16 or newer (tables agents and agent_debug_conversations)"
    ) in out
    assert "  FAIL today:           could not tell: the role may not read every table the count needs" in out
    assert "  PASS workspace:       Admin's Workspace" in out  # the other probes still ran


def test_a_schema_without_a_needed_column_names_it_and_the_version(postgres, environment, capsys) -> None:
    url = postgres.database("1.12.1")
    superuser(url, "ALTER TABLE messages DROP COLUMN model_id")
    superuser(url, "UPDATE alembic_version SET version_num = '0123abcd4567'")
    code, out = check(environment, capsys, url)
    assert code == 1, out
    assert (
        "  FAIL columns:         the schema lacks messages.model_id (Dify version 1.12.x or older (index "
        "message_created_at_idx)): not a schema this reads"
    ) in out
    assert (
        "  WARN Dify version:    alembic head 0123abcd4567 is not a recorded version (1.12.1, 1.14.1, 1.16.1); "
        "the schema looks like 1.12.x or older"
    ) in out


def test_a_workspace_id_that_is_no_tenant_fails(postgres, environment, capsys) -> None:
    environment.setenv("DIFY_WORKSPACE_ID", NOT_A_TENANT)
    code, out = check(environment, capsys, postgres.database("1.12.1"))
    assert code == 1, out
    assert (
        f"  FAIL workspace:       DIFY_WORKSPACE_ID {NOT_A_TENANT} is no tenant of this Dify: set it to a tenants.id "
        "of this database (SELECT id, name FROM tenants)"
    ) in out
    assert "today:" not in out


def test_runs_without_node_rows_are_where_the_database_cannot_read_usage(postgres, environment, capsys) -> None:
    url = postgres.database("1.14.1")
    first_run = "SELECT id FROM workflow_runs ORDER BY created_at LIMIT 1"
    superuser(url, f"DELETE FROM workflow_node_executions WHERE workflow_run_id = ({first_run})")
    code, out = check(environment, capsys, url)
    assert code == 0, out
    assert "  WARN node executions: 1 of the latest 7 ended workflow runs have no node rows in PostgreSQL" in out
    superuser(url, "DELETE FROM workflow_node_executions")
    code, out = check(environment, capsys, url)
    assert code == 1, out
    assert (
        "  FAIL node executions: none of the latest 7 ended workflow runs has node rows in PostgreSQL: Dify keeps "
        "them elsewhere (WORKFLOW_NODE_EXECUTION_STORAGE, a logstore)"
    ) in out


def test_offloaded_node_values_are_counted(postgres, environment, capsys) -> None:
    url = postgres.database("1.16.1")
    superuser(
        url,
        "CREATE TABLE workflow_node_execution_offload (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), "
        "node_execution_id uuid, type varchar(20));"
        "INSERT INTO workflow_node_execution_offload (node_execution_id, type) "
        "SELECT id, 'outputs' FROM workflow_node_executions LIMIT 2",
    )
    code, out = check(environment, capsys, url)
    assert code == 0, out
    assert "  PASS columns:         all 72 columns the source reads, in 10 tables, are readable" in out
    assert "  WARN offloaded nodes: 2 node values were moved to file storage (truncated rows)" in out


def test_with_dify_api_url_the_console_is_checked_too(postgres, environment, capsys) -> None:
    workspace = generate_workspace(seed=3, start_date=date(2026, 11, 9), days=2)
    with DifySimulator(workspace, email="meter@corp.example", password="s3cret-pass") as dify:
        environment.setenv("DIFY_API_URL", dify.base_url)
        environment.setenv("DIFY_EMAIL", "meter@corp.example")
        environment.setenv("DIFY_PASSWORD", "s3cret-pass")
        code, out = check(environment, capsys, postgres.database("1.12.1"))
    assert code == 0, out
    assert "Dify database: OK" in out and "Dify: OK" in out and "Dify console: not configured" not in out
    assert "s3cret-pass" not in out


def test_a_wrong_password_is_a_clear_failure_that_does_not_repeat_it(postgres, environment, capsys) -> None:
    url = postgres.database("1.12.1").replace(SUPERUSER_PASSWORD, "wrong-pw-123")
    code, out = check(environment, capsys, url)
    assert code == 1, out
    assert "Dify database: FAILED" in out and "wrong-pw-123" not in out
    assert "  problem: Dify database postgres@127.0.0.1:" in out and "cannot connect" in out
    assert "password authentication failed" in out and "Check DIFY_DATABASE_URL" in out
