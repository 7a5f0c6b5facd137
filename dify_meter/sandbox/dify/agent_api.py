"""Dify 1.16.1's endpoints of agent apps (mode `agent`) by Agent id, as its source (`59b879d2df`,
`controllers/console/agent/roster.py`, `services/agent/observability_service.py`) serves them.

Recorded (`10-agent-*` of the 1.16.1 recording): creation (`POST /agent`), the logs and their messages (the
statistics summary is in `agent_statistics`). **From source, not recorded**: the version endpoints, and the
two GETs that write when read, performed here with their side effects (`agent_rows`): `GET /agent/{id}`
creates the caller's debug conversation when it has none, `GET /agent/{id}/composer` creates a draft when none
exists. The exporter's allowlist has neither of those two."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from dify_meter.sandbox.dify import render
from dify_meter.sandbox.dify.agent_rows import (
    AgentAppFields,
    AgentAppIds,
    create_agent_app,
    debug_conversation_of,
    draft_of,
)
from dify_meter.sandbox.dify.exchange import Call
from dify_meter.sandbox.dify.queries import URL_NOT_FOUND, bad_request, not_found, validate
from dify_meter.sandbox.dify.tables import DEBUGGER, AgentConfigSnapshot, App, Conversation, Message
from dify_meter.sandbox.dify.time import unix

Json = dict[str, Any]


class AgentAppCreatePayload(BaseModel):
    name: str = Field(min_length=1)
    description: str = ""
    role: str = ""
    icon_type: str = "emoji"
    icon: str = "🤖"
    icon_background: str = "#FFEAD5"


class AgentLogsQuery(BaseModel):
    page: int = Field(default=1, ge=1)
    limit: int = Field(default=20, ge=1, le=100)
    sort_by: str = "updated_at"
    sort_order: str = "desc"


def agent_app_of(call: Call) -> App:
    """`_resolve_agent_runtime_app_model`: the agent app bound to the Agent, in this workspace."""
    if not call.version.agent_apps:
        raise URL_NOT_FOUND  # no agent routes before 1.16
    agent_id = call.params["agent_id"]
    app = next((a for a in call.ws.apps.values() if a.mode == "agent" and a.bound_agent_id == agent_id), None)
    if app is None:
        raise not_found("agent_not_found", "Agent not found.", call.path, call.hint_rules)
    return app


def post_agent(call: Call) -> tuple[int, Json]:
    """`AgentAppListApi.post`: a new agent app and its Agent; answered with the roster-shaped detail."""
    if not call.version.agent_apps:
        raise URL_NOT_FOUND  # no such route before 1.16
    try:
        payload = AgentAppCreatePayload.model_validate(json.loads(call.body or b"{}"))
    except (ValueError, ValidationError) as error:
        raise bad_request(str(error)) from None
    fields = AgentAppFields(**payload.model_dump())
    app = create_agent_app(call.ws, fields, AgentAppIds.new(), call.account.id, call.now)
    return 201, _agent_app_detail(call, app)


def get_agent(call: Call) -> tuple[int, Json]:
    """`AgentAppApi.get`: writes when read (the caller's debug conversation, if it has none)."""
    return 200, _agent_app_detail(call, agent_app_of(call))


def _agent_app_detail(call: Call, app: App) -> Json:
    """`_serialize_agent_app_detail`: the app detail with the Agent's id as `id`, the app's as `app_id`."""
    debug = debug_conversation_of(call.ws, app, call.account.id, call.now)
    messages = len(call.ws.messages_of(debug.id))
    detail = render.app_detail(call.ws, app, f"{call.base_url}/v1", call.version)
    detail.pop("bound_agent_id")
    icon_url = detail.pop("icon_url")
    return {
        **detail,
        "id": app.bound_agent_id,
        "permission_keys": [],  # as recorded for the creator's fresh app
        "app_id": app.id,
        "backing_app_id": app.id,
        "hidden_app_backed": False,
        "debug_conversation_id": debug.id,
        "debug_conversation_has_messages": messages > 0,
        "debug_conversation_message_count": messages,
        "role": app.agent_role,
        "icon_url": icon_url,
    }


def get_agent_composer(call: Call) -> tuple[int, Json]:
    """`AgentComposerApi.get`: writes when read (a draft, if none exists); from source, not recorded."""
    app = agent_app_of(call)
    draft = draft_of(call.ws, app, call.now)
    active = next(iter(_snapshots(call)), None)  # the newest published config
    return 200, {
        "variant": "agent_app",
        "agent": {
            "id": app.bound_agent_id,
            "name": app.name,
            "description": app.description,
            "scope": "roster",
            "status": "active",
            "active_config_snapshot_id": active.id if active else None,
        },
        "active_config_snapshot": _version(active) if active else None,
        "draft": {
            "id": draft.id,
            "agent_id": draft.agent_id,
            "draft_type": "draft",
            "created_by": draft.created_by,
            "created_at": unix(draft.created_at),
        },
        "agent_soul": {"model": _soul_model(active)},
        "save_options": ["save_to_current_version", "save_as_new_version"],
    }


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


def _source(app: App) -> Json:
    """`_serialize_webapp_source`: where an agent app's own conversations come from."""
    return {
        "id": f"webapp:{app.id}",
        "type": "webapp",
        "app_id": app.id,
        "app_name": app.name,
        "app_icon_type": app.icon_type,
        "app_icon": app.icon,
        "app_icon_background": app.icon_background,
        "workflow_id": None,
        "workflow_version": None,
        "node_id": None,
    }


def _conversation_log(app: App, conversation: Conversation, messages: list[Message]) -> Json:
    """`_serialize_conversation_log`: its times are those of its newest message (in the source filter)."""
    statuses = {m.status for m in messages}
    failed = any(m.error or m.status == "error" for m in messages)
    newest = max(unix(m.created_at) or 0 for m in messages)
    return {
        "id": conversation.id,
        "conversation_id": conversation.id,
        "title": conversation.name,
        "end_user_id": conversation.from_end_user_id,
        "message_count": len(messages),
        "user_rate": None,
        "operation_rate": None,
        "unread": conversation.read_at is None,
        "source": _source(app),
        "status": "paused" if "paused" in statuses else "failed" if failed else "success",
        "created_at": newest,
        "updated_at": newest,  # messages.updated_at: the simulator's messages are never edited
    }


def get_agent_logs(call: Call) -> tuple[int, Json]:
    """`AgentLogsApi`: one row per conversation that has messages in the source filter (the debugger's are left
    out by default, so the debug conversation is missing from `10-agent-logs`)."""
    app = agent_app_of(call)
    query = validate(AgentLogsQuery, {k: v for k, v in call.args.items() if not k.startswith("source")})
    sources = _sources(call.args)
    rows = []
    for conversation in call.ws.conversations_of(app.id):
        messages = [m for m in call.ws.messages_of(conversation.id) if m.app_id == app.id and _included(m, sources)]
        if messages:
            rows.append(_conversation_log(app, conversation, messages))
    key = "created_at" if query.sort_by == "created_at" else "updated_at"
    rows.sort(key=lambda row: (row[key] or 0, row["id"]), reverse=query.sort_order != "asc")
    start = (query.page - 1) * query.limit
    return 200, {
        "data": rows[start : start + query.limit],
        "page": query.page,
        "limit": query.limit,
        "total": len(rows),
        "has_more": start + query.limit < len(rows),
    }


def get_agent_log_messages(call: Call) -> tuple[int, Json]:
    app = agent_app_of(call)
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
    app = agent_app_of(call)
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
    return 200, {**_version(snapshot), "config_snapshot": {"model": _soul_model(snapshot)}, "revisions": []}


def _soul_model(snapshot: AgentConfigSnapshot | None) -> Json | None:
    if snapshot is None or not snapshot.model or not snapshot.model_provider:
        return None
    return {
        "plugin_id": snapshot.model_provider.rsplit("/", 1)[0],
        "model_provider": snapshot.model_provider,
        "model": snapshot.model,
        "model_settings": {},
    }
