"""Dify 1.16.1's Agent log and version endpoints for agent apps (mode `agent`), as its source (`59b879d2df`,
`controllers/console/agent/roster.py`, `services/agent/observability_service.py`) serves them. The log
messages follow the recording (`10-agent-log-messages-*`); the version endpoints are **from source, not
recorded**. The endpoints that write when read (`GET /agent`, `GET /agent/{id}`, `GET /agent/{id}/composer`)
are not simulated: the exporter must never call them (its allowlist has none of them)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from dify_meter.sandbox.dify.exchange import Call
from dify_meter.sandbox.dify.queries import not_found, validate
from dify_meter.sandbox.dify.tables import DEBUGGER, App, Message
from dify_meter.sandbox.dify.time import unix

Json = dict[str, Any]


class AgentLogsQuery(BaseModel):
    page: int = Field(default=1, ge=1)
    limit: int = Field(default=20, ge=1, le=100)
    sort_by: str = "updated_at"
    sort_order: str = "desc"


def _agent_app(call: Call) -> App:
    """`_resolve_agent_runtime_app_model`: the agent app bound to the Agent, in this workspace."""
    agent_id = call.params["agent_id"]
    app = next((a for a in call.ws.apps.values() if a.mode == "agent" and a.bound_agent_id == agent_id), None)
    if app is None or not call.version.agent_apps:
        raise not_found("agent_not_found", "Agent not found.", call.path, call.hint_rules)
    return app


def _sources(args: dict[str, str]) -> list[str]:
    """`_query_values("sources", "source")`: plain and indexed (`sources[0]`) forms."""
    indexed = sorted(
        (int(key[len("sources[") : -1]), value)
        for key, value in args.items()
        if key.startswith("sources[") and key.endswith("]") and key[len("sources[") : -1].isdigit()
    )
    return [value for value in [args.get("sources"), args.get("source"), *(v for _, v in indexed)] if value]


def _included(message: Message, sources: list[str]) -> bool:
    """No source, `all` or `webapp`: every message but the debugger's; `debugger`: only those. OR-ed."""
    debugger = message.invoke_from == DEBUGGER
    if not sources or "all" in sources:
        return not debugger
    return any((source == "debugger" and debugger) or (source == "webapp" and not debugger) for source in sources)


def _log_message(message: Message) -> Json:
    return {
        "id": message.id,
        "message_id": message.id,
        "conversation_id": message.conversation_id,
        "query": message.query,
        "answer": message.answer,
        "status": "success" if message.status == "normal" else message.status,
        "error": message.error,
        "from_end_user_id": message.from_end_user_id,
        "from_account_id": message.from_account_id,
        "message_tokens": message.message_tokens,
        "answer_tokens": message.answer_tokens,
        "total_tokens": message.message_tokens + message.answer_tokens,
        "total_price": f"{message.total_price:.7f}",
        "currency": message.currency,
        "latency": message.provider_response_latency,
        "created_at": unix(message.created_at),
        "updated_at": unix(message.created_at),
    }


def get_agent_log_messages(call: Call) -> tuple[int, Json]:
    app = _agent_app(call)
    query = validate(AgentLogsQuery, {k: v for k, v in call.args.items() if not k.startswith("source")})
    sources = _sources(call.args)
    rows = [
        m for m in call.ws.messages_of(call.params["conversation_id"]) if m.app_id == app.id and _included(m, sources)
    ]
    rows.sort(key=lambda m: (m.created_at, m.id), reverse=query.sort_order != "asc")  # Dify sorts in Python
    start = (query.page - 1) * query.limit
    return 200, {
        "data": [_log_message(m) for m in rows[start : start + query.limit]],
        "page": query.page,
        "limit": query.limit,
        "total": len(rows),
        "has_more": start + query.limit < len(rows),
    }


def _snapshots(call: Call) -> list[Any]:
    app = _agent_app(call)
    return sorted(
        (s for s in call.ws.agent_snapshots.values() if s.agent_id == app.bound_agent_id),
        key=lambda s: s.version,
        reverse=True,
    )


def _version(snapshot: Any) -> Json:
    return {
        "id": snapshot.id,
        "agent_id": snapshot.agent_id,
        "version": snapshot.version,
        "display_version": snapshot.version,
        "snapshot_version": snapshot.version,
        "summary": None,
        "version_note": None,
        "created_by": snapshot.created_by,
        "created_at": unix(snapshot.created_at),
    }


def get_agent_versions(call: Call) -> tuple[int, Json]:
    return 200, {"data": [_version(s) for s in _snapshots(call)]}


def get_agent_version(call: Call) -> tuple[int, Json]:
    snapshot = next((s for s in _snapshots(call) if s.id == call.params["version_id"]), None)
    if snapshot is None:
        raise not_found("agent_version_not_found", "Agent version not found.", call.path, call.hint_rules)
    model = (
        {
            "plugin_id": snapshot.model_provider.rsplit("/", 1)[0],
            "model_provider": snapshot.model_provider,
            "model": snapshot.model,
            "model_settings": {},
        }
        if snapshot.model
        else None
    )
    return 200, {**_version(snapshot), "config_snapshot": {"model": model}, "revisions": []}
