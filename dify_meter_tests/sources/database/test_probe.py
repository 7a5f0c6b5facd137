"""The probes behind `dify-meter check` for the database source (sources/database/probe.py), on a real PostgreSQL."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
import pytest

from dify_meter.sources.database.probe import (
    GRANT_SCRIPT,
    OFFLOAD_COLUMNS,
    OFFLOAD_TABLE,
    REQUIRED_COLUMNS,
    probe_database,
)
from dify_meter.sources.database.sessions import DatabaseTarget
from dify_meter_tests.sources.database.statement_log import logged_statements
from dify_meter_tests.sources.database.support import read_database
from dify_meter_tests.support.postgres import TENANT_ID, EmbeddedPostgres

pytestmark = pytest.mark.integration
REPOSITORY = Path(__file__).parents[3]


def test_the_columns_probed_are_exactly_what_the_grant_script_grants() -> None:
    script = (REPOSITORY / GRANT_SCRIPT).read_text()
    granted = {
        table: tuple(column.strip() for column in columns.split(","))
        for columns, table in re.findall(r"GRANT SELECT \(([^)]*)\)\s+ON (\w+) TO", script)
    }
    assert granted == {**REQUIRED_COLUMNS, OFFLOAD_TABLE: OFFLOAD_COLUMNS}
    assert "GRANT SELECT ON alembic_version TO dify_meter_ro;" in script


@pytest.mark.parametrize("timezone", ["America/New_York", "UTC"])
def test_todays_cheap_count_is_the_days_event_count_on_the_recorded_seed(
    postgres: EmbeddedPostgres, timezone: str
) -> None:
    url, zone = postgres.database("1.16.1"), ZoneInfo(timezone)
    for day in (9, 10, 11):
        noon = datetime(2026, 11, day, 12, tzinfo=zone)
        found = probe_database(DatabaseTarget(url), TENANT_ID, timezone=timezone, now=noon)
        window = (datetime(2026, 11, day, tzinfo=zone), datetime(2026, 11, day + 1, tzinfo=zone))
        events = read_database(url, TENANT_ID, window, timezone).events
        assert found.today == f"2026-11-{day:02d}" and found.unanswered == {}
        assert (found.today_messages, found.today_node_executions) == (
            sum(event.source == "message" for event in events),
            sum(event.source == "node" for event in events),
        )
    assert found.today_node_executions  # the days hold node events too


def test_a_probe_that_waits_on_a_lock_gives_up_at_the_lock_timeout_and_the_others_still_run(
    postgres: EmbeddedPostgres,
) -> None:
    url = postgres.database("1.12.1")
    with psycopg.connect(url) as migration:  # a Dify migration holding tenants
        migration.execute("LOCK TABLE tenants IN ACCESS EXCLUSIVE MODE")
        found = probe_database(DatabaseTarget(url, lock_timeout_seconds=0.2), TENANT_ID, timezone="UTC")
    assert found.unanswered == {"workspace": "canceling statement due to lock timeout"}
    assert found.workspace_found is None and found.recent_runs == 7 and found.today_messages == 0


def test_every_probe_reads_in_one_read_only_transaction_that_is_never_committed(postgres: EmbeddedPostgres) -> None:
    url = postgres.database("1.16.1")
    with logged_statements(postgres, url) as logged:
        found = probe_database(DatabaseTarget(url), TENANT_ID, timezone="UTC")
    statements = [line.split(" LOG:  ", 1)[1] for line in logged if " LOG:  " in line]
    assert found.unanswered == {} and found.workspace_name == "Admin's Workspace"
    assert statements[0] == "statement: BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY"
    assert sum("BEGIN" in statement for statement in statements) == 1
    assert not [s for s in statements if s.split(": ", 1)[1].startswith(("COMMIT", "INSERT", "UPDATE", "DELETE"))]
    # one query per probe (the SQL files begin with a comment), whatever the size of the workspace
    assert sum(statement.split(": ", 1)[1].startswith("--") for statement in statements) == 7
