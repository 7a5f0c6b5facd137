"""The database source never writes: its own READ ONLY transaction refuses, and it needs only the GRANT script."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
import pytest

from dify_meter.core.event import UsageEvent
from dify_meter.sources.database.sessions import DatabaseTarget, day_snapshot
from dify_meter_tests.sources.database.support import read_database
from dify_meter_tests.support.postgres import TENANT_ID, EmbeddedPostgres

pytestmark = pytest.mark.integration


def by_id(event: UsageEvent) -> str:
    return event.event_id


MONTH = (datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))


def test_a_write_through_the_sources_connection_is_refused_even_for_a_superuser(postgres: EmbeddedPostgres) -> None:
    url = postgres.database("1.12.1")
    with day_snapshot(DatabaseTarget(url)) as connections:
        for connection in connections:
            with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
                connection.execute("UPDATE messages SET total_price = 0")
    with psycopg.connect(url) as check:
        assert check.execute("SELECT count(*) FROM messages WHERE total_price > 0").fetchone() != (0,)


def test_both_connections_see_one_snapshot(postgres: EmbeddedPostgres) -> None:
    url = postgres.database("1.12.1")
    with day_snapshot(DatabaseTarget(url)) as connections:
        before = [c.execute("SELECT count(*) FROM tenants").fetchone() for c in connections]
        with psycopg.connect(url, autocommit=True) as writer:  # committed after the snapshot was taken
            writer.execute("INSERT INTO tenants (id, name) VALUES (gen_random_uuid(), 'Later')")
        after = [c.execute("SELECT count(*) FROM tenants").fetchone() for c in connections]
        isolation = [c.execute("SHOW transaction_isolation").fetchone() for c in connections]
    assert before == after and before[0] == before[1]
    assert isolation == [("repeatable read",), ("repeatable read",)]


def test_the_grant_scripts_role_reads_the_same_events(postgres: EmbeddedPostgres) -> None:
    url = postgres.database("1.16.1")
    role_url = postgres.grant_read_only_role(url)
    as_role, as_superuser = (read_database(u, TENANT_ID, MONTH, "UTC").events for u in (role_url, url))
    assert len(as_role) == 27 and sorted(as_role, key=by_id) == sorted(as_superuser, key=by_id)
    with psycopg.connect(role_url) as connection, pytest.raises(psycopg.errors.InsufficientPrivilege):
        connection.execute("SELECT query FROM messages")  # message text is not granted
