"""The workspace recorded in Dify 1.12.1's fixtures, loaded from the seed file the caller passes.

The seed is the fixtures' `fixture-seed.sql` (tests pass the vendored one, so the package carries no
recording). The rows that
`POST /setup` created before the seed ran (tenant, owner) and a few server-side values seen in
the recordings (login and activity times) are filled in here with the recorded values.

With 1.16.1's `fixture-seed-agent.sql` as `agent_seed_file`, the workspace also holds the recorded New Agent
app: the rows `POST /console/api/agent` wrote (`10-agent-create.json`: its ids, site, debug conversation and
timestamps; the config and snapshot ids were never shown, so they are made up here), then the seed's rows.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from dify_meter.sandbox.dify.agent_rows import AgentAppFields, AgentAppIds, create_agent_app, debug_conversation_of
from dify_meter.sandbox.dify.seed_sql import SqlValue, read_inserts, read_updates
from dify_meter.sandbox.dify.tables import (
    Account,
    AgentThought,
    App,
    AppModelConfig,
    Conversation,
    EndUser,
    Message,
    NodeExecution,
    Row,
    Tenant,
    Workflow,
    WorkflowAppLog,
    WorkflowRun,
)
from dify_meter.sandbox.dify.workspace import Workspace

TENANT_ID = "bc7707d9-0233-49fd-8a56-07e7cfcf41ae"
OWNER_ID = "63431cc7-e8b0-404a-b758-bf4be91b8823"
SETUP_AT = datetime(2026, 11, 28, 0, 7, 41, tzinfo=UTC)
OWNER_LAST_LOGIN_AT = datetime(2026, 11, 28, 0, 7, 43, tzinfo=UTC)
PRICE_PLACES = Decimal("0.0000001")
# The agent app of 1.16.1's recording, as 10-agent-create.json shows it.
AGENT_APP_IDS = AgentAppIds(
    app_id="c9b7946a-b798-49f1-9008-195d3b63c68a",
    agent_id="01a23c8d-f133-7bfb-a3ff-8a578dba055e",
    config_id="b1a00000-0000-4000-8000-000000000001",  # not shown by any answer
    snapshot_id="5a000000-0000-4000-8000-000000000000",  # not shown by any answer
    site_code="QTmXNvbkq3rMGdsq",
)
AGENT_APP_FIELDS = AgentAppFields(
    "Agent Desk", "New Agent app (mode agent)", "Helpdesk agent", "emoji", "🤖", "#E0F2FE"
)
AGENT_DEBUG_CONVERSATION = "9977979f-4728-4802-bfbc-7bbf42a9906f"
AGENT_CREATED_AT = datetime(2026, 12, 3, 15, 37, 45, tzinfo=UTC)
AGENT_APP_UPDATED_AT = datetime(2026, 12, 3, 15, 37, 44, tzinfo=UTC)  # as recorded: a second before created_at

Columns = dict[str, SqlValue]


def fixture_workspace(seed_file: Path, agent_seed_file: Path | None = None) -> Workspace:
    ws = Workspace(Tenant(TENANT_ID, "Admin's Workspace", "basic", "normal", SETUP_AT, SETUP_AT))
    ws.add(
        Account(
            id=OWNER_ID,
            name="Admin",
            email="admin@example.com",
            timezone="America/New_York",
            role="owner",
            created_at=SETUP_AT,
            last_login_at=OWNER_LAST_LOGIN_AT,
            last_active_at=SETUP_AT,
            last_login_ip="127.0.0.1",
        )
    )
    roles: dict[str, str] = {}
    variables = {"tenant_id": TENANT_ID, "owner_id": OWNER_ID}
    for table, row in read_inserts(seed_file.read_text(encoding="utf-8"), variables):
        if table == "tenant_account_joins":
            roles[_s(row["account_id"])] = _s(row["role"])
            continue
        if table not in _LOADERS:
            raise ValueError(f"{seed_file}: no loader for table {table!r}")
        ws.add(_LOADERS[table](row))
    for account_id, role in roles.items():
        ws.accounts[account_id].role = role
    if agent_seed_file is not None:
        _load_agent_app(ws, agent_seed_file)
    return ws


def _load_agent_app(ws: Workspace, seed_file: Path) -> None:
    app = create_agent_app(
        ws, AGENT_APP_FIELDS, AGENT_APP_IDS, OWNER_ID, AGENT_CREATED_AT, updated_at=AGENT_APP_UPDATED_AT
    )
    debug = debug_conversation_of(ws, app, OWNER_ID, AGENT_CREATED_AT, AGENT_DEBUG_CONVERSATION)
    variables = {
        "agent_app_id": app.id,
        "agent_amc_id": AGENT_APP_IDS.config_id,
        "agent_tenant_id": TENANT_ID,
        "owner_id": OWNER_ID,
        "debug_conv_id": debug.id,
    }
    sql = seed_file.read_text(encoding="utf-8")
    for table, row in read_inserts(sql, variables):
        if table not in _LOADERS:
            raise ValueError(f"{seed_file}: no loader for table {table!r}")
        ws.add(_LOADERS[table](row))
    for update in read_updates(sql, variables):
        if update.table != "conversations":
            raise ValueError(f"{seed_file}: no update for table {update.table!r}")
        conversation = ws.conversations[_s(update.row_id)]
        if "updated_at" in update.changes:  # the other columns (dialogue_count) are not kept
            conversation.updated_at = _time(update.changes["updated_at"])


def _s(value: SqlValue) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string in the seed, got {value!r}")
    return value


def _opt(value: SqlValue) -> str | None:
    return None if value is None else _s(value)


def _time(value: SqlValue) -> datetime:
    return datetime.fromisoformat(_s(value)).replace(tzinfo=UTC)


def _opt_time(value: SqlValue) -> datetime | None:
    return None if value is None else _time(value)


def _json(value: SqlValue) -> dict | None:
    return None if value is None else json.loads(_s(value))


def _account(r: Columns) -> Row:
    return Account(
        id=_s(r["id"]),
        name=_s(r["name"]),
        email=_s(r["email"]),
        timezone=_s(r["timezone"]),
        role="normal",
        created_at=_time(r["created_at"]),
        # Dify stamps last_active_at when the row is inserted: the seed ran in the setup second.
        last_active_at=SETUP_AT,
        interface_language=_s(r["interface_language"]),
        status=_s(r["status"]),
    )


def _app(r: Columns) -> Row:
    return App(
        id=_s(r["id"]),
        name=_s(r["name"]),
        mode=_s(r["mode"]),
        status=_s(r["status"]),
        created_by=_s(r["created_by"]),
        created_at=_time(r["created_at"]),
        app_model_config_id=_opt(r["app_model_config_id"]),
        workflow_id=_opt(r["workflow_id"]),
        description=_s(r["description"]),
        icon_type=_s(r["icon_type"]),
        icon=_s(r["icon"]),
        icon_background=_s(r["icon_background"]),
        enable_site=bool(r["enable_site"]),
        enable_api=bool(r["enable_api"]),
    )


def _app_model_config(r: Columns) -> Row:
    model = _json(r["model"]) or {}
    return AppModelConfig(
        id=_s(r["id"]),
        app_id=_s(r["app_id"]),
        provider=_s(r["provider"]),
        model_name=_s(r["model_id"]),
        model_mode=model["mode"],
        created_by=_s(r["created_by"]),
        created_at=_time(r["created_at"]),
        completion_params=model["completion_params"],
        pre_prompt=_s(r["pre_prompt"]),
        agent_mode=_json(r["agent_mode"]),
        prompt_type=_s(r["prompt_type"]),
    )


def _workflow(r: Columns) -> Row:
    return Workflow(
        id=_s(r["id"]),
        app_id=_s(r["app_id"]),
        version=_s(r["version"]),
        created_by=_s(r["created_by"]),
        created_at=_time(r["created_at"]),
        graph=_json(r["graph"]) or {},
    )


def _end_user(r: Columns) -> Row:
    return EndUser(
        id=_s(r["id"]),
        app_id=_s(r["app_id"]),
        type=_s(r["type"]),
        session_id=_s(r["session_id"]),
        external_user_id=_opt(r["external_user_id"]),
        is_anonymous=bool(r["is_anonymous"]),
    )


def _conversation(r: Columns) -> Row:
    return Conversation(
        id=_s(r["id"]),
        app_id=_s(r["app_id"]),
        app_model_config_id=_opt(r["app_model_config_id"]),
        mode=_s(r["mode"]),
        name=_s(r["name"]),
        from_source=_s(r["from_source"]),
        from_end_user_id=_opt(r["from_end_user_id"]),
        from_account_id=_opt(r["from_account_id"]),
        invoke_from=_s(r["invoke_from"]),
        created_at=_time(r["created_at"]),
        updated_at=_time(r["updated_at"]),
        status=_s(r["status"]),
    )


def _message(r: Columns) -> Row:
    return Message(
        id=_s(r["id"]),
        app_id=_s(r["app_id"]),
        conversation_id=_s(r["conversation_id"]),
        query=_s(r["query"]),
        answer=_s(r["answer"]),
        message_tokens=int(_s(r["message_tokens"])),
        answer_tokens=int(_s(r["answer_tokens"])),
        total_price=Decimal(_s(r["total_price"])).quantize(PRICE_PLACES),
        currency=_s(r["currency"]),
        from_source=_s(r["from_source"]),
        from_end_user_id=_opt(r["from_end_user_id"]),
        from_account_id=_opt(r["from_account_id"]),
        invoke_from=_s(r["invoke_from"]),
        created_at=_time(r["created_at"]),
        metadata=_json(r["message_metadata"]),
        workflow_run_id=_opt(r["workflow_run_id"]),
        model_provider=_opt(r["model_provider"]),
        model_id=_opt(r["model_id"]),
        inputs=_json(r["inputs"]) or {},
        provider_response_latency=float(_s(r["provider_response_latency"])),
        status=_s(r["status"]),
        parent_message_id=_opt(r.get("parent_message_id")),
    )


def _agent_thought(r: Columns) -> Row:
    return AgentThought(
        id=_s(r["id"]),
        message_id=_s(r["message_id"]),
        position=int(_s(r["position"])),
        thought=_s(r["thought"]),
        tool=_s(r["tool"]),
        tool_input=_s(r["tool_input"]),
        observation=_s(r["observation"]),
        created_at=_time(r["created_at"]),
        answer=_opt(r.get("answer")),
    )


def _workflow_run(r: Columns) -> Row:
    return WorkflowRun(
        id=_s(r["id"]),
        app_id=_s(r["app_id"]),
        workflow_id=_s(r["workflow_id"]),
        type=_s(r["type"]),
        triggered_from=_s(r["triggered_from"]),
        version=_s(r["version"]),
        status=_s(r["status"]),
        elapsed_time=float(_s(r["elapsed_time"])),
        total_tokens=int(_s(r["total_tokens"])),
        total_steps=int(_s(r["total_steps"])),
        created_by_role=_s(r["created_by_role"]),
        created_by=_s(r["created_by"]),
        created_at=_time(r["created_at"]),
        finished_at=_opt_time(r["finished_at"]),
        exceptions_count=int(_s(r["exceptions_count"])),
        graph=_json(r["graph"]) or {},
        inputs=_json(r["inputs"]) or {},
        outputs=_json(r["outputs"]) or {},
    )


def _node_execution(r: Columns) -> Row:
    return NodeExecution(
        id=_s(r["id"]),
        app_id=_s(r["app_id"]),
        workflow_run_id=_s(r["workflow_run_id"]),
        index=int(_s(r["index"])),
        node_id=_s(r["node_id"]),
        node_type=_s(r["node_type"]),
        title=_s(r["title"]),
        status=_s(r["status"]),
        created_by_role=_s(r["created_by_role"]),
        created_by=_s(r["created_by"]),
        created_at=_time(r["created_at"]),
        finished_at=_opt_time(r["finished_at"]),
        process_data=_json(r["process_data"]),
        outputs=_json(r["outputs"]),
        execution_metadata=_json(r["execution_metadata"]),
        inputs=_json(r["inputs"]) or {},
        elapsed_time=float(_s(r["elapsed_time"])),
        predecessor_node_id=_opt(r["predecessor_node_id"]),
    )


def _workflow_app_log(r: Columns) -> Row:
    return WorkflowAppLog(
        id=_s(r["id"]),
        app_id=_s(r["app_id"]),
        workflow_run_id=_s(r["workflow_run_id"]),
        created_from=_s(r["created_from"]),
        created_by_role=_s(r["created_by_role"]),
        created_by=_s(r["created_by"]),
        created_at=_time(r["created_at"]),
    )


_LOADERS: dict[str, Callable[[Columns], Row]] = {
    "accounts": _account,
    "apps": _app,
    "app_model_configs": _app_model_config,
    "workflows": _workflow,
    "end_users": _end_user,
    "conversations": _conversation,
    "messages": _message,
    "message_agent_thoughts": _agent_thought,
    "workflow_runs": _workflow_run,
    "workflow_node_executions": _node_execution,
    "workflow_app_logs": _workflow_app_log,
}
