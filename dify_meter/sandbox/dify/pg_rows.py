"""The simulator's workspace written into a PostgreSQL that has Dify's real schema: one generator, two views.

The same `Workspace` the simulator serves over the console API becomes rows of Dify's own tables (COPY, in
dependency order, under the schema's constraints), so the console source and the database source can be
compared on one ground truth. Times are written as Dify writes them: naive UTC. Decimals inside JSON become
strings, as Dify stores prices.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import psycopg
from psycopg import sql

from dify_meter.sandbox.dify.workspace import Workspace


def write_workspace(connection: psycopg.Connection, ws: Workspace) -> dict[str, int]:
    """COPY every row of `ws` into Dify's tables (the caller commits); rows written per table."""
    tenant, setup = ws.tenant.id, ws.tenant.created_at
    workflow_types = {
        wf.id: ("chat" if ws.apps[wf.app_id].mode == "advanced-chat" else "workflow") for wf in ws.workflows.values()
    }
    tables: list[tuple[str, Sequence[str], Iterable[Sequence[Any]]]] = [
        (
            "tenants",
            ("id", "name", "plan", "status", "created_at", "updated_at"),
            [(tenant, ws.tenant.name, ws.tenant.plan, ws.tenant.status, setup, setup)],
        ),
        (
            "accounts",
            (
                "id",
                "name",
                "email",
                "timezone",
                "status",
                "interface_language",
                "interface_theme",
                "created_at",
                "updated_at",
                "last_login_at",
                "last_active_at",
                "last_login_ip",
            ),
            [
                (
                    a.id,
                    a.name,
                    a.email,
                    a.timezone,
                    a.status,
                    a.interface_language,
                    a.interface_theme,
                    a.created_at,
                    a.created_at,
                    a.last_login_at,
                    a.last_active_at or a.created_at,
                    a.last_login_ip,
                )
                for a in ws.accounts.values()
            ],
        ),
        (
            "tenant_account_joins",
            ("id", "tenant_id", "account_id", "role", "current", "created_at", "updated_at"),
            [
                (uuid.uuid5(uuid.NAMESPACE_URL, f"join/{a.id}"), tenant, a.id, a.role, True, a.created_at, a.created_at)
                for a in ws.accounts.values()
            ],
        ),
        (
            "app_model_configs",
            (
                "id",
                "app_id",
                "provider",
                "model_id",
                "model",
                "pre_prompt",
                "agent_mode",
                "prompt_type",
                "created_by",
                "updated_by",
                "created_at",
                "updated_at",
            ),
            [
                (
                    c.id,
                    c.app_id,
                    c.provider,
                    c.model_name,
                    _json(
                        {
                            "provider": c.provider,
                            "name": c.model_name,
                            "mode": c.model_mode,
                            "completion_params": c.completion_params,
                        }
                    ),
                    c.pre_prompt,
                    _json(c.agent_mode),
                    c.prompt_type,
                    c.created_by,
                    c.created_by,
                    c.created_at,
                    c.created_at,
                )
                for c in ws.app_model_configs.values()
            ],
        ),
        (
            "workflows",
            (
                "id",
                "tenant_id",
                "app_id",
                "type",
                "version",
                "graph",
                "features",
                "created_by",
                "created_at",
                "updated_at",
            ),
            [
                (
                    w.id,
                    tenant,
                    w.app_id,
                    workflow_types[w.id],
                    w.version,
                    _json(w.graph),
                    "{}",
                    w.created_by,
                    w.created_at,
                    w.created_at,
                )
                for w in ws.workflows.values()
            ],
        ),
        (
            "apps",
            (
                "id",
                "tenant_id",
                "name",
                "mode",
                "icon_type",
                "icon",
                "icon_background",
                "app_model_config_id",
                "workflow_id",
                "status",
                "enable_site",
                "enable_api",
                "description",
                "created_by",
                "updated_by",
                "created_at",
                "updated_at",
            ),
            [
                (
                    a.id,
                    tenant,
                    a.name,
                    a.mode,
                    a.icon_type,
                    a.icon,
                    a.icon_background,
                    a.app_model_config_id,
                    a.workflow_id,
                    a.status,
                    a.enable_site,
                    a.enable_api,
                    a.description,
                    a.created_by,
                    a.created_by,
                    a.created_at,
                    a.created_at,
                )
                for a in ws.apps.values()
            ],
        ),
        (
            "end_users",
            (
                "id",
                "tenant_id",
                "app_id",
                "type",
                "external_user_id",
                "is_anonymous",
                "session_id",
                "created_at",
                "updated_at",
            ),
            [
                (u.id, tenant, u.app_id, u.type, u.external_user_id, u.is_anonymous, u.session_id, setup, setup)
                for u in ws.end_users.values()
            ],
        ),
        (
            "conversations",
            (
                "id",
                "app_id",
                "app_model_config_id",
                "model_provider",
                "model_id",
                "mode",
                "name",
                "inputs",
                "status",
                "from_source",
                "from_end_user_id",
                "from_account_id",
                "invoke_from",
                "read_at",
                "summary",
                "dialogue_count",
                "created_at",
                "updated_at",
            ),
            [
                (
                    c.id,
                    c.app_id,
                    c.app_model_config_id,
                    *_config_model(ws, c.app_model_config_id),
                    c.mode,
                    c.name,
                    "{}",
                    c.status,
                    c.from_source,
                    c.from_end_user_id,
                    c.from_account_id,
                    c.invoke_from,
                    c.read_at,
                    c.summary,
                    0,
                    c.created_at,
                    c.updated_at,
                )
                for c in ws.conversations.values()
            ],
        ),
        (
            "workflow_runs",
            (
                "id",
                "tenant_id",
                "app_id",
                "workflow_id",
                "type",
                "triggered_from",
                "version",
                "graph",
                "inputs",
                "status",
                "outputs",
                "error",
                "elapsed_time",
                "total_tokens",
                "total_steps",
                "created_by_role",
                "created_by",
                "created_at",
                "finished_at",
                "exceptions_count",
            ),
            [
                (
                    r.id,
                    tenant,
                    r.app_id,
                    r.workflow_id,
                    r.type,
                    r.triggered_from,
                    r.version,
                    _json(r.graph),
                    _json(r.inputs),
                    r.status,
                    _json(r.outputs),
                    r.error,
                    r.elapsed_time,
                    r.total_tokens,
                    r.total_steps,
                    r.created_by_role,
                    r.created_by,
                    r.created_at,
                    r.finished_at,
                    r.exceptions_count,
                )
                for r in ws.workflow_runs.values()
            ],
        ),
        (
            "messages",
            (
                "id",
                "app_id",
                "model_provider",
                "model_id",
                "conversation_id",
                "inputs",
                "query",
                "message",
                "message_tokens",
                "message_unit_price",
                "answer",
                "answer_tokens",
                "answer_unit_price",
                "provider_response_latency",
                "total_price",
                "currency",
                "from_source",
                "from_end_user_id",
                "from_account_id",
                "invoke_from",
                "message_metadata",
                "workflow_run_id",
                "status",
                "error",
                "created_at",
                "updated_at",
            ),
            [
                (
                    m.id,
                    m.app_id,
                    m.model_provider,
                    m.model_id,
                    m.conversation_id,
                    _json(m.inputs),
                    m.query,
                    _json([{"role": "user", "text": m.query, "files": []}]),
                    m.message_tokens,
                    0,
                    m.answer,
                    m.answer_tokens,
                    0,
                    m.provider_response_latency,
                    m.total_price,
                    m.currency,
                    m.from_source,
                    m.from_end_user_id,
                    m.from_account_id,
                    m.invoke_from,
                    _json(m.metadata),
                    m.workflow_run_id,
                    m.status,
                    m.error,
                    m.created_at,
                    m.created_at,
                )
                for m in ws.messages.values()
            ],
        ),
        (
            "workflow_node_executions",
            (
                "id",
                "tenant_id",
                "app_id",
                "workflow_id",
                "triggered_from",
                "workflow_run_id",
                "index",
                "predecessor_node_id",
                "node_id",
                "node_type",
                "title",
                "inputs",
                "process_data",
                "outputs",
                "status",
                "error",
                "elapsed_time",
                "execution_metadata",
                "created_by_role",
                "created_by",
                "created_at",
                "finished_at",
            ),
            [
                (
                    n.id,
                    tenant,
                    n.app_id,
                    ws.workflow_runs[n.workflow_run_id].workflow_id,
                    "workflow-run",
                    n.workflow_run_id,
                    n.index,
                    n.predecessor_node_id,
                    n.node_id,
                    n.node_type,
                    n.title,
                    _json(n.inputs),
                    _json(n.process_data),
                    _json(n.outputs),
                    n.status,
                    n.error,
                    n.elapsed_time,
                    _json(n.execution_metadata),
                    n.created_by_role,
                    n.created_by,
                    n.created_at,
                    n.finished_at,
                )
                for n in ws.node_executions.values()
            ],
        ),
        (
            "workflow_app_logs",
            (
                "id",
                "tenant_id",
                "app_id",
                "workflow_id",
                "workflow_run_id",
                "created_from",
                "created_by_role",
                "created_by",
                "created_at",
            ),
            [
                (
                    log.id,
                    tenant,
                    log.app_id,
                    ws.workflow_runs[log.workflow_run_id].workflow_id,
                    log.workflow_run_id,
                    log.created_from,
                    log.created_by_role,
                    log.created_by,
                    log.created_at,
                )
                for log in ws.workflow_app_logs.values()
            ],
        ),
    ]
    written = {}
    for table, columns, rows in tables:
        statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
            sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))
        )
        count = 0
        with connection.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row([_naive_utc(value) for value in row])
                count += 1
        written[table] = count
    return written


def _config_model(ws: Workspace, config_id: str | None) -> tuple[str | None, str | None]:
    config = ws.app_model_configs.get(config_id) if config_id else None
    return (config.provider, config.model_name) if config else (None, None)


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, default=_json_default, ensure_ascii=False)


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)  # Dify stores prices as decimal strings
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot store {type(value).__name__} as JSON")


def _naive_utc(value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value
