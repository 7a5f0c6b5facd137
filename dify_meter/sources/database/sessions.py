"""Connections to Dify's PostgreSQL that can only read: one snapshot per day, shared by every connection.

Each connection runs `BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY` with local statement and lock timeouts
and UTC; the first exports its snapshot (`pg_export_snapshot()`), the others adopt it, so all queries of a day
see one consistent database. The transaction ends with the day: a snapshot held longer holds back vacuum.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import psycopg
from psycopg import sql

from dify_meter.sources.database.errors import DatabaseSourceError, describe_target, password_of, redact

APPLICATION_NAME = "dify_meter"


@dataclass(frozen=True, slots=True)
class DatabaseTarget:
    url: str  # postgresql://user:password@host:port/db; secret
    statement_timeout_seconds: float = 300
    lock_timeout_seconds: float = 5
    connect_timeout_seconds: float = 10

    def __repr__(self) -> str:  # dataclass repr would print the URL and its password
        return f"DatabaseTarget({describe_target(self.url)})"

    def error(self, what: str, exc: BaseException) -> DatabaseSourceError:
        """`what` failed, with PostgreSQL's reason and no password in it."""
        reason = redact(str(exc).strip(), password_of(self.url)) or type(exc).__name__
        return DatabaseSourceError(f"Dify database {describe_target(self.url)}: {what}: {reason}")


def checked_tenant(workspace_id: str, window_start: datetime, window_end: datetime) -> str:
    """The tenant id of a read of [window_start, window_end), canonical; raises for a naive window or a non-UUID."""
    if window_start.tzinfo is None or window_end.tzinfo is None:
        raise ValueError("window_start and window_end must be timezone-aware")
    try:
        return str(UUID(workspace_id))
    except ValueError:
        raise DatabaseSourceError(f"workspace id {workspace_id!r} is not a UUID (a Dify tenants.id)") from None


def connect(target: DatabaseTarget) -> psycopg.Connection:
    try:
        return psycopg.connect(
            target.url,
            autocommit=True,
            application_name=APPLICATION_NAME,
            connect_timeout=max(1, round(target.connect_timeout_seconds)),
        )
    except psycopg.Error as exc:
        raise target.error("cannot connect", exc) from None


def begin_read_only(connection: psycopg.Connection, target: DatabaseTarget, snapshot: str | None = None) -> None:
    connection.execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
    if snapshot is not None:
        connection.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(snapshot)))
    for name, seconds in (
        ("statement_timeout", target.statement_timeout_seconds),
        ("lock_timeout", target.lock_timeout_seconds),
    ):
        connection.execute(
            sql.SQL("SET LOCAL {} = {}").format(sql.Identifier(name), sql.Literal(f"{round(seconds * 1000)}ms"))
        )
    connection.execute("SET LOCAL TIME ZONE 'UTC'")


@contextmanager
def day_snapshot(target: DatabaseTarget, connections: int = 2) -> Iterator[list[psycopg.Connection]]:
    """`connections` connections in one READ ONLY REPEATABLE READ snapshot, closed at exit."""
    with ExitStack() as stack:
        opened = []
        for _ in range(connections):
            opened.append(connection := connect(target))
            stack.callback(connection.close)  # not the context manager: it would COMMIT on a clean exit
        try:
            begin_read_only(opened[0], target)
            row = opened[0].execute("SELECT pg_export_snapshot()").fetchone()
            assert row is not None
            for connection in opened[1:]:
                begin_read_only(connection, target, snapshot=row[0])
        except psycopg.Error as exc:
            raise target.error("cannot open a read-only snapshot", exc) from None
        yield opened  # closing a connection aborts its transaction: nothing is ever committed
