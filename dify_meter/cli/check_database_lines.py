"""The lines `dify-meter check` prints for a probe of Dify's PostgreSQL (sources/database/probe.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

from dify_meter.sources.database.probe import GRANT_SCRIPT, REQUIRED_COLUMNS, DatabaseProbe

Status = Literal["PASS", "WARN", "FAIL"]
Line = tuple[Status, str, str]
SHOWN = 8  # names listed in a line before "and N more"
GRANT_EXCERPT = (
    "CREATE ROLE dify_meter_ro LOGIN PASSWORD '…'; ALTER ROLE dify_meter_ro SET default_transaction_read_only = on; "
    f"GRANT SELECT ({', '.join(REQUIRED_COLUMNS['tenants'])}) ON tenants TO dify_meter_ro; …"
)


def describe(found: DatabaseProbe, workspace_id: str, timezone: str) -> Iterator[Line]:
    yield from _server(found)
    yield from _version(found)
    yield from _columns(found)
    yield from _write_access(found)
    yield from _node_storage(found)
    yield from _workspace(found, workspace_id)
    yield from _today(found, timezone)


def _names(names: list[str]) -> str:
    shown = ", ".join(names[:SHOWN])
    return shown + (f" and {len(names) - SHOWN} more" if len(names) > SHOWN else "")


def _unanswered(found: DatabaseProbe, probe: str, label: str) -> Iterator[Line]:
    if probe in found.unanswered:
        yield "FAIL", label, f"could not tell: {found.unanswered[probe]}"


def _server(found: DatabaseProbe) -> Iterator[Line]:
    if not found.server_version:
        yield from _unanswered(found, "server", "server")
        return
    where = (
        "a replica (in recovery): a day whose end it has not replayed yet fails and is read again later"
        if found.in_recovery
        else "a primary: the export's reads are short snapshots, but a replica spares Dify's own database"
    )
    yield "PASS", "server", f"PostgreSQL {found.server_version}, {where}; role {found.role}"


def _version(found: DatabaseProbe) -> Iterator[Line]:
    if found.dify_version is not None:
        yield "PASS", "Dify version", f"{found.dify_version} (alembic head {found.alembic_head})"
        return
    if found.schema_looks_like is None:
        yield from _unanswered(found, "version", "Dify version")
        yield from _unanswered(found, "schema", "Dify version")
        return
    if found.alembic_head is not None:
        why = f"alembic head {found.alembic_head} is not a recorded version (1.12.1, 1.14.1, 1.16.1)"
    elif found.version_table and not found.version_readable:
        why = f"alembic_version is not readable (GRANT SELECT ON alembic_version TO {found.role};)"
    else:
        why = "no alembic_version table"
    yield "WARN", "Dify version", f"{why}; the schema looks like {found.schema_looks_like}: check the first export"


def _columns(found: DatabaseProbe) -> Iterator[Line]:
    if not found.columns:
        yield from _unanswered(found, "columns", "columns")
        return
    version = found.dify_version or found.schema_looks_like or "unknown"
    missing_tables = sorted({c.table for c in found.missing_columns if not _table_present(found, c.table)})
    missing = [f"{c.table}.{c.column}" for c in found.missing_columns if c.table not in missing_tables]
    if missing_tables:
        yield "FAIL", "columns", f"the schema has no table {_names(missing_tables)} (Dify version {version})"
    if missing:
        yield "FAIL", "columns", f"the schema lacks {_names(missing)} (Dify version {version}): not a schema this reads"
    if found.unreadable_columns:
        unreadable = [f"{c.table}.{c.column}" for c in found.unreadable_columns]
        yield (
            "FAIL",
            "columns",
            f"role {found.role} cannot read {_names(unreadable)}; missing GRANT (from {GRANT_SCRIPT}): "
            + " ".join(found.missing_grants()),
        )
    if not (missing_tables or missing or found.unreadable_columns):
        tables = len({c.table for c in found.columns})
        yield "PASS", "columns", f"all {len(found.columns)} columns the source reads, in {tables} tables, are readable"


def _table_present(found: DatabaseProbe, table: str) -> bool:
    return any(c.present for c in found.columns if c.table == table)


def _write_access(found: DatabaseProbe) -> Iterator[Line]:
    if "write access" in found.unanswered:
        yield from _unanswered(found, "write access", "write access")
        return
    if not found.writable_tables and not found.superuser:
        yield "PASS", "write access", f"role {found.role} can write to none of Dify's tables"
        return
    who = f"role {found.role} is a superuser and" if found.superuser else f"role {found.role}"
    yield (
        "WARN",
        "write access",
        f"{who} could write to {len(found.writable_tables)} of Dify's tables ({_names(found.writable_tables)}). "
        "The source only reads, in READ ONLY transactions, but give it a role that cannot write: "
        f"{GRANT_SCRIPT} ({GRANT_EXCERPT})",
    )


def _node_storage(found: DatabaseProbe) -> Iterator[Line]:
    if found.recent_runs is None:
        yield from _unanswered(found, "node storage", "node executions")
        return
    without = found.runs_without_nodes or 0
    if found.recent_runs == 0:
        yield "PASS", "node executions", "no ended workflow runs yet: where Dify keeps node executions cannot be seen"
    elif without == found.recent_runs:
        yield (
            "FAIL",
            "node executions",
            f"none of the latest {found.recent_runs} ended workflow runs has node rows in PostgreSQL: Dify keeps "
            "them elsewhere (WORKFLOW_NODE_EXECUTION_STORAGE, a logstore) or archived them; workflow and "
            "advanced-chat usage cannot be read from the database",
        )
    elif without:
        yield (
            "WARN",
            "node executions",
            f"{without} of the latest {found.recent_runs} ended workflow runs have no node rows in PostgreSQL "
            "(stored elsewhere or archived): an export day with such a run fails instead of reading it as zero",
        )
    else:
        yield "PASS", "node executions", f"in PostgreSQL: the latest {found.recent_runs} ended runs all have node rows"
    if not found.offload_table:
        yield "PASS", "offloaded nodes", "no workflow_node_execution_offload table: node values are kept in their rows"
    elif found.offloaded_rows is None:
        yield from _unanswered(found, "offloaded nodes", "offloaded nodes")
    elif found.offloaded_rows:
        yield (
            "WARN",
            "offloaded nodes",
            f"{found.offloaded_rows:,}{'+' if found.offloaded_rows >= 10_000 else ''} node values were moved to file "
            "storage (truncated rows): a day with such a node whose usage split is gone fails",
        )
    else:
        yield "PASS", "offloaded nodes", "workflow_node_execution_offload is empty: no node values in file storage"


def _workspace(found: DatabaseProbe, workspace_id: str) -> Iterator[Line]:
    if found.workspace_found is False:
        reason = found.unanswered.get("workspace", f"DIFY_WORKSPACE_ID {workspace_id} is no tenant of this Dify")
        yield "FAIL", "workspace", f"{reason}: set it to a tenants.id of this database (SELECT id, name FROM tenants)"
    elif found.workspace_found:
        yield "PASS", "workspace", f"{found.workspace_name} ({workspace_id})"
    else:
        yield from _unanswered(found, "workspace", "workspace")


def _today(found: DatabaseProbe, timezone: str) -> Iterator[Line]:
    if found.today_messages is None or found.today_node_executions is None:
        yield from _unanswered(found, "today", "today")
        return
    yield (
        "PASS",
        "today",
        f"{found.today} ({timezone}) so far: {found.today_messages + found.today_node_executions:,} events "
        f"({found.today_messages:,} messages, {found.today_node_executions:,} LLM node executions; a cheap count "
        "that applies no debugger rule)",
    )
