"""What `dify-meter check` finds out about Dify's PostgreSQL: version, privileges, where usage is kept, the workspace.

Every probe reads, in one READ ONLY transaction with the source's timeouts; a probe the role may not run is
reported (with the GRANT that fixes it), not raised, so one check names every problem at once.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import psycopg
from psycopg.rows import dict_row

from dify_meter.core.app_modes import MESSAGE_MODES
from dify_meter.sources.database.queries import query
from dify_meter.sources.database.sessions import DatabaseTarget, begin_read_only, connect

# The columns the source reads, table by table: exactly what docs/dify-database-grants.sql grants.
REQUIRED_COLUMNS: Mapping[str, tuple[str, ...]] = {
    "tenants": ("id", "name", "status"),
    "apps": ("id", "tenant_id", "name", "mode", "status", "is_universal"),
    "app_model_configs": ("id", "app_id", "model"),
    "conversations": (
        "id", "app_id", "app_model_config_id", "override_model_configs", "mode", "from_end_user_id",
        "from_account_id", "invoke_from", "is_deleted", "created_at", "updated_at",
    ),
    "messages": (
        "id", "app_id", "conversation_id", "model_provider", "model_id", "message_tokens", "answer_tokens",
        "total_price", "currency", "message_metadata", "workflow_run_id", "status", "invoke_from", "created_at",
    ),
    "end_users": ("id", "tenant_id", "app_id", "type", "session_id"),
    "workflow_runs": (
        "id", "tenant_id", "app_id", "triggered_from", "status", "total_tokens", "created_at", "finished_at",
    ),
    "workflow_app_logs": (
        "id", "tenant_id", "app_id", "workflow_run_id", "created_from", "created_by_role", "created_by", "created_at",
    ),
    "workflow_node_executions": (
        "id", "tenant_id", "app_id", "workflow_run_id", "node_id", "node_type", "title", "status", "process_data",
        "outputs", "execution_metadata", "created_at",
    ),
}  # fmt: skip
OFFLOAD_TABLE, OFFLOAD_COLUMNS = "workflow_node_execution_offload", ("node_execution_id", "type")
GRANT_SCRIPT = "docs/dify-database-grants.sql"
ALEMBIC_HEADS = {"788d3099ae3a": "1.12.1", "a4f2d8c9b731": "1.14.1", "6f5a9c2d8e1b": "1.16.1"}
RECENT_RUNS = 1000  # ended runs looked at for where node executions are kept
OFFLOAD_COUNT_BOUND = 10_000


@dataclass(frozen=True, slots=True)
class ColumnAccess:
    table: str
    column: str
    present: bool  # the table has the column
    readable: bool  # and this role may SELECT it


@dataclass(slots=True)
class DatabaseProbe:
    """What the check found; None where a probe could not tell (the reason is in `unanswered`)."""

    server_version: str = ""
    in_recovery: bool = False
    role: str = ""
    superuser: bool = False
    version_table: bool = False  # alembic_version exists
    version_readable: bool = False  # and may be read
    alembic_head: str | None = None
    dify_version: str | None = None  # the release of a recorded alembic head
    schema_looks_like: str | None = None  # the release the schema's marks suggest (docs/dify-database.md)
    columns: list[ColumnAccess] = field(default_factory=list)
    writable_tables: list[str] = field(default_factory=list)
    offload_table: bool = False
    offloaded_rows: int | None = None  # counted up to OFFLOAD_COUNT_BOUND
    recent_runs: int | None = None
    runs_without_nodes: int | None = None
    workspace_name: str | None = None
    workspace_found: bool | None = None
    today: str = ""  # the local date counted
    today_messages: int | None = None
    today_node_executions: int | None = None
    unanswered: dict[str, str] = field(default_factory=dict)  # probe -> why it could not run

    @property
    def missing_columns(self) -> list[ColumnAccess]:
        return [c for c in self.columns if not c.present]

    @property
    def unreadable_columns(self) -> list[ColumnAccess]:
        return [c for c in self.columns if c.present and not c.readable]

    def missing_grants(self) -> list[str]:
        """The GRANT statements of the script that would let this role read what it cannot."""
        by_table: dict[str, list[str]] = {}
        for column in self.unreadable_columns:
            by_table.setdefault(column.table, []).append(column.column)
        grants = [f"GRANT SELECT ({', '.join(cols)}) ON {table} TO {self.role};" for table, cols in by_table.items()]
        if self.version_table and not self.version_readable:
            grants.append(f"GRANT SELECT ON alembic_version TO {self.role};")
        return grants


def probe_database(
    target: DatabaseTarget, workspace_id: str, *, timezone: str, now: datetime | None = None
) -> DatabaseProbe:
    """Every probe of the check, read-only in one transaction. Raises DatabaseSourceError only when the
    database cannot be reached or the transaction cannot begin."""
    found = DatabaseProbe()
    try:
        tenant_id: str | None = str(UUID(workspace_id))
    except ValueError:
        tenant_id = None
        found.workspace_found = False
        found.unanswered["workspace"] = f"DIFY_WORKSPACE_ID {workspace_id!r} is not a UUID (a Dify tenants.id)"
    with closing(connect(target)) as connection:  # closed, never committed: the transaction only read
        try:
            begin_read_only(connection, target)
        except psycopg.Error as exc:
            raise target.error("cannot open a read-only transaction", exc) from None
        _probe_server(connection, found)
        marks = _schema_marks(connection, found)
        _probe_columns(connection, found, marks)
        _probe_version(connection, found, marks)
        _probe_writable(connection, found)
        if tenant_id is not None:
            _probe_workspace(connection, found, tenant_id, ZoneInfo(timezone), now or datetime.now(UTC))
    return found


@contextmanager
def _probe(connection: psycopg.Connection, found: DatabaseProbe, name: str) -> Iterator[None]:
    """One probe in a savepoint: a refusal (privileges, timeout) is noted and the next probe still runs."""
    connection.execute("SAVEPOINT probe")
    try:
        yield
    except psycopg.Error as exc:
        connection.execute("ROLLBACK TO SAVEPOINT probe")
        found.unanswered[name] = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    else:
        connection.execute("RELEASE SAVEPOINT probe")


def _rows(connection: psycopg.Connection, name: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    with connection.cursor(row_factory=dict_row) as cursor:
        cursor.execute(query(name), params or {})
        return cursor.fetchall()


def _probe_server(connection: psycopg.Connection, found: DatabaseProbe) -> None:
    with _probe(connection, found, "server"):
        (row,) = _rows(connection, "probe_server")
        found.server_version, found.in_recovery = row["server_version"], row["in_recovery"]
        found.role, found.superuser = row["role"], row["superuser"]


def _schema_marks(connection: psycopg.Connection, found: DatabaseProbe) -> dict[str, Any]:
    with _probe(connection, found, "schema"):
        return _rows(connection, "probe_schema_marks")[0]
    return {}


def _probe_columns(connection: psycopg.Connection, found: DatabaseProbe, marks: Mapping[str, Any]) -> None:
    wanted = [(table, column) for table, columns in REQUIRED_COLUMNS.items() for column in columns]
    found.offload_table = bool(marks.get("has_offload_table"))
    if found.offload_table:
        wanted += [(OFFLOAD_TABLE, column) for column in OFFLOAD_COLUMNS]
    with _probe(connection, found, "columns"):
        rows = _rows(connection, "probe_columns", {"tables": [t for t, _ in wanted], "columns": [c for _, c in wanted]})
        found.columns = [
            ColumnAccess(row["table_name"], row["column_name"], row["column_present"], row["readable"]) for row in rows
        ]


def _probe_version(connection: psycopg.Connection, found: DatabaseProbe, marks: Mapping[str, Any]) -> None:
    found.version_table = bool(marks.get("has_alembic_version"))
    found.version_readable = bool(marks.get("alembic_version_readable"))
    if found.version_readable:
        with _probe(connection, found, "version"):
            row = connection.execute("SELECT version_num FROM alembic_version LIMIT 1").fetchone()
            found.alembic_head = row[0] if row else None
    found.dify_version = ALEMBIC_HEADS.get(found.alembic_head or "")
    if not marks:
        return
    if marks["has_agents"]:
        found.schema_looks_like = "1.16 or newer (tables agents and agent_debug_conversations)"
    elif marks["has_conversation_app_updated_at_idx"] and not marks["has_message_created_at_idx"]:
        found.schema_looks_like = "1.14.x (index conversation_app_updated_at_idx, no message_created_at_idx)"
    else:
        found.schema_looks_like = "1.12.x or older (index message_created_at_idx)"


def _probe_writable(connection: psycopg.Connection, found: DatabaseProbe) -> None:
    with _probe(connection, found, "write access"):
        found.writable_tables = [row["table_name"] for row in _rows(connection, "probe_writable")]


def _readable(found: DatabaseProbe, probe: str, why_not: str, *tables: str) -> bool:
    """Whether the role may read every column of `tables` the source reads; if not, note why `probe` is skipped."""
    granted = {(c.table, c.column) for c in found.columns if c.readable}
    if all((table, column) in granted for table in tables for column in REQUIRED_COLUMNS[table]):
        return True
    if "columns" in found.unanswered:
        why_not = f"not probed: the role's privileges could not be read ({found.unanswered['columns']})"
    found.unanswered[probe] = why_not
    return False


def _probe_workspace(
    connection: psycopg.Connection, found: DatabaseProbe, tenant_id: str, zone: ZoneInfo, now: datetime
) -> None:
    if _readable(found, "workspace", "the role may not read tenants", "tenants"):
        with _probe(connection, found, "workspace"):
            rows = _rows(connection, "probe_workspace", {"tenant_id": tenant_id})
            found.workspace_found = bool(rows)
            found.workspace_name = rows[0]["name"] if rows else None
    why_not = "the role may not read workflow_runs and workflow_node_executions"
    if _readable(found, "node storage", why_not, "workflow_runs", "workflow_node_executions"):
        with _probe(connection, found, "node storage"):
            (row,) = _rows(connection, "probe_node_storage", {"tenant_id": tenant_id, "runs": RECENT_RUNS})
            found.recent_runs, found.runs_without_nodes = row["runs"], row["runs_without_nodes"]
    if found.offload_table and all(c.readable for c in found.columns if c.table == OFFLOAD_TABLE):
        with _probe(connection, found, "offloaded nodes"):
            (row,) = _rows(connection, "probe_offload", {"bound": OFFLOAD_COUNT_BOUND})
            found.offloaded_rows = row["offloaded"]
    if found.workspace_found is False:
        return
    today = now.astimezone(zone).date()
    lo = datetime.combine(today, datetime.min.time(), zone).astimezone(UTC).replace(tzinfo=None)
    hi = datetime.combine(today + timedelta(days=1), datetime.min.time(), zone).astimezone(UTC).replace(tzinfo=None)
    found.today = today.isoformat()
    tables = ("apps", "messages", "conversations", "workflow_runs", "workflow_node_executions")
    if _readable(found, "today", "the role may not read every table the count needs", *tables):
        with _probe(connection, found, "today"):
            (row,) = _rows(
                connection,
                "probe_today",
                {"tenant_id": tenant_id, "lo": lo, "hi": hi, "message_modes": sorted(MESSAGE_MODES)},
            )
            found.today_messages, found.today_node_executions = row["messages"], row["nodes"]
