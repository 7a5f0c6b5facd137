"""The console endpoints: query parsing, filtering, ordering and paging as Dify 1.12.1 does them, and the
routing table (the account endpoints, setup, login and refresh, are in `dify_auth_api`).

Each handler takes a `Call` (the workspace, the acting account, path parameters, query string)
and returns `(status, body)` or raises `ApiError`. Ties on a sort timestamp keep insertion
order, which is what PostgreSQL did in the recordings (Dify adds no tie-breaker).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from dify_meter.core.app_modes import APP_MODES
from dify_meter.sandbox.dify import render
from dify_meter.sandbox.dify.agent_api import (
    get_agent,
    get_agent_composer,
    get_agent_log_messages,
    get_agent_logs,
    get_agent_version,
    get_agent_versions,
    post_agent,
)
from dify_meter.sandbox.dify.agent_statistics import get_agent_statistics_summary
from dify_meter.sandbox.dify.auth_api import get_setup, post_login, post_refresh_token, post_setup
from dify_meter.sandbox.dify.end_user_types import CHAT_PAGINATION, COMPLETION_PAGINATION, check_end_user_types
from dify_meter.sandbox.dify.exchange import Call
from dify_meter.sandbox.dify.queries import (
    URL_NOT_FOUND,
    ApiError,
    AppListQuery,
    ChatConversationQuery,
    ChatMessagesQuery,
    CompletionConversationQuery,
    StatisticTimeRangeQuery,
    WorkflowAppLogQuery,
    WorkflowRunListQuery,
    WorkspaceListQuery,
    bad_request,
    not_found,
    validate,
)
from dify_meter.sandbox.dify.tables import DEBUGGER, App, Conversation
from dify_meter.sandbox.dify.time import localize, parse_console_minute, unix

Json = dict[str, Any]
T = TypeVar("T")
APPS = "/console/api/apps/<uuid:app_id>"
ANY_MODE: tuple[str, ...] = ()
# In the order Dify lists them; 1.16+ adds agent apps' conversations and (console-started) messages.
AGENT_ERA_CHAT = tuple(row.mode for row in APP_MODES if row.conversations)
CHAT = tuple(mode for mode in AGENT_ERA_CHAT if mode != "agent")
AGENT = "/console/api/agent/<uuid:agent_id>"


Handler = Callable[[Call], tuple[int, Json]]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    hint_rules: tuple[str, ...]  # what flask-restx's 404 "did you mean" names for this URL


# --- helpers -------------------------------------------------------------------------------------


def _app(call: Call, modes: tuple[str, ...]) -> App:
    """Dify's `get_app_model`: the app must exist in the workspace, be normal, and have a served mode."""
    app = call.ws.apps.get(call.params["app_id"])
    if app is None or app.status != "normal":
        raise not_found("app_not_found", "App not found.", call.path, call.hint_rules)
    if modes and app.mode not in modes:
        listed = "{" + ", ".join(repr(m) for m in modes) + "}"
        raise not_found(
            "app_not_found", f"App mode is not in the supported list: {listed}.", call.path, call.hint_rules
        )
    return app


def _page(items: Sequence[T], page: int, limit: int) -> tuple[list[T], Json]:
    """Flask-SQLAlchemy's paginate: a slice plus page, limit, total and has_more."""
    chunk = list(items[(page - 1) * limit : page * limit])
    return chunk, {"page": page, "limit": limit, "total": len(items), "has_more": page * limit < len(items)}


def _newest_first(items: Iterable[T], key: Callable[[T], datetime]) -> list[T]:
    return sorted(items, key=key, reverse=True)  # stable: ties keep insertion order


def _minute(value: str | None, label: str) -> datetime | None:
    """A `YYYY-MM-DD HH:MM` bound in the account timezone, as naive local time."""
    if not value:
        return None
    try:
        return parse_console_minute(value)
    except ValueError as error:
        raise bad_request(f"Invalid {label} time format: {error}") from None


def _utc(call: Call, local: datetime | None) -> datetime | None:
    return None if local is None else localize(local, call.account.timezone)


def _conversation(call: Call, app: App) -> Conversation:
    conversation = call.ws.conversations.get(call.params["conversation_id"])
    if conversation is None or conversation.app_id != app.id:
        raise not_found("not_found", "Conversation Not Exists.", call.path, call.hint_rules)
    return conversation


def _read_detail(call: Call, conversation: Conversation) -> None:
    """Dify's side effect: the first detail read marks the conversation read and (before 1.14) bumps updated_at."""
    if conversation.read_at is None:
        conversation.read_at = call.now
        if call.version.detail_read_moves_updated_at:
            conversation.updated_at = call.now
    call.ws.detail_reads[conversation.id] += 1


# --- workspace and account ---------------------------------------------------------------------


def get_profile(call: Call) -> tuple[int, Json]:
    return 200, render.account_profile(call.account)


def get_all_workspaces(call: Call) -> tuple[int, Json]:
    query = validate(WorkspaceListQuery, call.args)
    tenant = call.ws.tenant
    items, paging = _page([tenant], query.page, query.limit)
    data = [{"id": t.id, "name": t.name, "status": t.status, "created_at": unix(t.created_at)} for t in items]
    return 200, {
        "data": data,
        "has_more": paging["has_more"],
        "limit": query.limit,
        "page": query.page,
        "total": paging["total"],
    }


def post_current_workspace(call: Call) -> tuple[int, Json]:
    return 200, render.current_workspace(call.ws, call.version)


def get_members(call: Call) -> tuple[int, Json]:
    accounts = sorted(call.ws.accounts.values(), key=lambda a: a.created_at)
    return 200, {"accounts": [render.member(a, call.version) for a in accounts]}


# --- apps ----------------------------------------------------------------------------------------


def get_apps(call: Call) -> tuple[int, Json]:
    query = validate(AppListQuery, call.args)
    if query.mode == "agent" and not call.version.agent_apps:
        raise ApiError(
            400,
            "invalid_param",
            "mode: Input should be 'completion', 'chat', 'advanced-chat', 'workflow', 'agent-chat', 'channel' or 'all'",
        )
    # 1.16 leaves agent apps out of `all`, and lists only those with an active Agent under `agent`
    apps = [
        a
        for a in call.ws.apps.values()
        if (query.mode == a.mode and (a.mode != "agent" or a.bound_agent_id))
        or (query.mode == "all" and a.mode != "agent")
    ]
    if query.name:
        apps = [a for a in apps if query.name.lower() in a.name.lower()]
    items, paging = _page(_newest_first(apps, lambda a: a.created_at), query.page, query.limit)
    return 200, {**paging, "data": [render.app_list_item(call.ws, a, call.version) for a in items]}


def get_app(call: Call) -> tuple[int, Json]:
    app = _app(call, ANY_MODE)
    return 200, render.app_detail(call.ws, app, f"{call.base_url}/v1", call.version)


# --- conversations and messages ----------------------------------------------------------------


def get_chat_conversations(call: Call) -> tuple[int, Json]:
    app = _app(call, AGENT_ERA_CHAT if call.version.agent_apps else CHAT)
    query = validate(ChatConversationQuery, call.args)
    start = _utc(call, _minute(query.start, "start"))
    end = _utc(call, _minute(query.end, "end"))
    if start and end and start > end:
        raise bad_request("start must be earlier than or equal to end")
    conversations = call.ws.conversations_of(app.id)
    if app.mode == "advanced-chat":
        conversations = [c for c in conversations if c.invoke_from != DEBUGGER]
    by_updated = query.sort_by in ("updated_at", "-updated_at")

    def moment(c: Conversation) -> datetime:
        return c.updated_at if by_updated else c.created_at

    if start:
        conversations = [c for c in conversations if moment(c) >= start]
    if end:
        last_second = end + timedelta(seconds=59)  # the end minute counts up to its second 59
        conversations = [c for c in conversations if moment(c) <= last_second]
    ordered = (
        _newest_first(conversations, moment) if query.sort_by.startswith("-") else sorted(conversations, key=moment)
    )
    items, paging = _page(ordered, query.page, query.limit)
    check_end_user_types(call.ws, items, CHAT_PAGINATION, call.version)
    return 200, {**paging, "data": [render.chat_conversation_item(call.ws, c, call.version) for c in items]}


def get_completion_conversations(call: Call) -> tuple[int, Json]:
    app = _app(call, ("completion",))
    query = validate(CompletionConversationQuery, call.args)
    start = _utc(call, _minute(query.start, "start"))
    end = _utc(call, _minute(query.end, "end"))
    conversations = call.ws.conversations_of(app.id)
    if start:
        conversations = [c for c in conversations if c.created_at >= start]
    if end:
        before = end + timedelta(seconds=59)  # Dify sets second 59 but compares with "<"
        conversations = [c for c in conversations if c.created_at < before]
    items, paging = _page(_newest_first(conversations, lambda c: c.created_at), query.page, query.limit)
    check_end_user_types(call.ws, items, COMPLETION_PAGINATION, call.version)
    return 200, {**paging, "data": [render.completion_conversation_item(call.ws, c, call.version) for c in items]}


def get_chat_conversation(call: Call) -> tuple[int, Json]:
    conversation = _conversation(call, _app(call, CHAT))
    _read_detail(call, conversation)
    return 200, render.chat_conversation_detail(call.ws, conversation)


def get_completion_conversation(call: Call) -> tuple[int, Json]:
    conversation = _conversation(call, _app(call, ("completion",)))
    _read_detail(call, conversation)
    return 200, render.completion_conversation_detail(call.ws, conversation, call.version)


def get_chat_messages(call: Call) -> tuple[int, Json]:
    app = _app(call, AGENT_ERA_CHAT if call.version.agent_apps else CHAT)
    query = validate(ChatMessagesQuery, call.args)
    conversation = call.ws.conversations.get(query.conversation_id)
    # agent apps: only conversations the caller started in the console (10-agent-chat-messages-*-404)
    foreign = app.mode == "agent" and (
        conversation is None or conversation.from_source != "console" or conversation.from_account_id != call.account.id
    )
    if conversation is None or conversation.app_id != app.id or foreign:
        raise not_found("not_found", "Conversation Not Exists.", call.path, call.hint_rules)
    messages = call.ws.messages_of(conversation.id)
    candidates = messages
    if query.first_id:
        first = next((m for m in messages if m.id == query.first_id), None)
        if first is None:
            raise not_found("not_found", "First message not found", call.path, call.hint_rules)
        # Dify's query: strictly older than the boundary, so its same-second siblings are skipped.
        candidates = [m for m in messages if m.created_at < first.created_at and m.id != first.id]
    page = _newest_first(candidates, lambda m: m.created_at)[: query.limit]
    has_more = len(page) == query.limit and any(
        m.created_at < page[-1].created_at and m.id != page[-1].id for m in messages
    )
    data = [render.message(call.ws, m, call.version, call.version.message_extra_contents) for m in reversed(page)]
    return 200, {"limit": query.limit, "has_more": has_more, "data": data}


def get_message(call: Call) -> tuple[int, Json]:
    """`MessageApi`: one message by id, with no caller filter (`10-agent-message-detail-webapp`)."""
    app = _app(call, ANY_MODE)
    message = call.ws.messages.get(call.params["message_id"])
    if message is None or message.app_id != app.id:
        raise not_found("not_found", "Message Not Exists.", call.path, call.hint_rules)
    return 200, render.message(call.ws, message, call.version, call.version.message_extra_contents)


# --- workflows -----------------------------------------------------------------------------------


def get_workflow_app_logs(call: Call) -> tuple[int, Json]:
    app = _app(call, ("workflow",))
    query = validate(WorkflowAppLogQuery, call.args)
    after = _as_utc(query.created_at__after)
    before = _as_utc(query.created_at__before)
    logs = []
    for log in call.ws.logs_of(app.id):
        run = call.ws.workflow_runs[log.workflow_run_id]
        if query.status and run.status != query.status:
            continue
        if (after and log.created_at < after) or (before and log.created_at > before):
            continue  # both bounds are inclusive
        if query.created_by_account and log.created_by != query.created_by_account:
            continue
        if query.created_by_end_user_session_id:
            end_user = call.ws.end_users.get(log.created_by)
            if end_user is None or end_user.session_id != query.created_by_end_user_session_id:
                continue
        logs.append(log)
    items, paging = _page(_newest_first(logs, lambda log: log.created_at), query.page, query.limit)
    return 200, {**paging, "data": [render.app_log(call.ws, log) for log in items]}


def _as_utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _workflow_runs(call: Call, modes: tuple[str, ...], with_conversation: bool) -> tuple[int, Json]:
    app = _app(call, modes)
    query = validate(WorkflowRunListQuery, call.args)
    runs = [r for r in call.ws.runs_of(app.id) if r.triggered_from == query.triggered_from]
    if query.status:
        runs = [r for r in runs if r.status == query.status]
    ordered = _newest_first(runs, lambda r: r.created_at)
    if query.last_id:
        last = next((r for r in runs if r.id == query.last_id), None)
        if last is None:
            raise ApiError(400, "invalid_param", "Last workflow run not exists")
        ordered = [r for r in ordered if r.created_at < last.created_at and r.id != last.id]
    page = ordered[: query.limit]
    has_more = len(page) == query.limit and any(
        r.created_at < page[-1].created_at and r.id != page[-1].id for r in runs
    )
    data = [render.run_list_item(call.ws, r, with_conversation) for r in page]
    return 200, {"limit": query.limit, "has_more": has_more, "data": data}


def get_workflow_runs(call: Call) -> tuple[int, Json]:
    return _workflow_runs(call, ("advanced-chat", "workflow"), with_conversation=False)


def get_advanced_chat_workflow_runs(call: Call) -> tuple[int, Json]:
    return _workflow_runs(call, ("advanced-chat",), with_conversation=True)


def get_workflow_run(call: Call) -> tuple[int, Json]:
    app = _app(call, ("advanced-chat", "workflow"))
    run = call.ws.workflow_runs.get(call.params["run_id"])
    if run is None or run.app_id != app.id:
        raise not_found("not_found", "Workflow run not found.", call.path, call.hint_rules)
    return 200, render.run_detail(call.ws, run)


def get_node_executions(call: Call) -> tuple[int, Json]:
    app = _app(call, ("advanced-chat", "workflow"))
    run = call.ws.workflow_runs.get(call.params["run_id"])
    if run is None or run.app_id != app.id:
        return 200, {"data": []}  # Dify answers an unknown run with an empty list
    nodes = sorted(call.ws.nodes_of(run.id), key=lambda n: (n.created_at, n.index))
    return 200, {"data": [render.node_execution(call.ws, n) for n in nodes]}


# --- statistics ----------------------------------------------------------------------------------


def get_token_costs(call: Call) -> tuple[int, Json]:
    app = _app(call, ANY_MODE)
    query = validate(StatisticTimeRangeQuery, call.args)
    start, end = _minute(query.start, "start"), _minute(query.end, "end")
    rows = call.ws.token_costs(app.id, start, end, call.account.timezone)
    # Dify labels every sum USD, whatever the rows' currency.
    return 200, {
        "data": [
            {"date": str(r.date), "token_count": r.token_count, "total_price": str(r.total_price), "currency": "USD"}
            for r in rows
        ]
    }


def get_workflow_token_costs(call: Call) -> tuple[int, Json]:
    app = _app(call, ("workflow",))
    query = validate(StatisticTimeRangeQuery, call.args)
    start, end = _minute(query.start, "start"), _minute(query.end, "end")
    rows = call.ws.workflow_token_costs(app.id, start, end, call.account.timezone)
    return 200, {"data": [{"date": str(r.date), "token_count": str(r.token_count)} for r in rows]}


# --- routing -------------------------------------------------------------------------------------

_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"


def _route(method: str, rule: str, handler: Handler, *similar: str) -> Route:
    pattern = re.escape(rule)
    for name in ("app_id", "conversation_id", "run_id", "agent_id", "version_id", "message_id"):
        pattern = pattern.replace(re.escape(f"<uuid:{name}>"), f"(?P<{name}>{_UUID})")
    return Route(method, re.compile(pattern + "$"), handler, (rule, *similar))


ROUTES: tuple[Route, ...] = (
    _route("GET", "/console/api/setup", get_setup),
    _route("POST", "/console/api/setup", post_setup),
    _route("POST", "/console/api/login", post_login),
    _route("POST", "/console/api/refresh-token", post_refresh_token),
    _route("GET", "/console/api/account/profile", get_profile),
    _route("GET", "/console/api/all-workspaces", get_all_workspaces),
    _route("POST", "/console/api/workspaces/current", post_current_workspace),
    _route("GET", "/console/api/workspaces/current/members", get_members),
    _route("GET", "/console/api/apps", get_apps),
    _route("GET", APPS, get_app),
    _route("GET", f"{APPS}/chat-conversations", get_chat_conversations, f"{APPS}/completion-conversations"),
    _route(
        "GET",
        f"{APPS}/chat-conversations/<uuid:conversation_id>",
        get_chat_conversation,
        f"{APPS}/completion-conversations/<uuid:conversation_id>",
    ),
    _route("GET", f"{APPS}/completion-conversations", get_completion_conversations, f"{APPS}/chat-conversations"),
    _route(
        "GET",
        f"{APPS}/completion-conversations/<uuid:conversation_id>",
        get_completion_conversation,
        f"{APPS}/chat-conversations/<uuid:conversation_id>",
    ),
    _route("GET", f"{APPS}/chat-messages", get_chat_messages, "/console/api/trial-apps/<uuid:app_id>/chat-messages"),
    _route("GET", f"{APPS}/messages/<uuid:message_id>", get_message),
    _route("GET", f"{APPS}/workflow-app-logs", get_workflow_app_logs, f"{APPS}/workflow-archived-logs"),
    _route("GET", f"{APPS}/workflow-runs", get_workflow_runs, f"{APPS}/advanced-chat/workflow-runs"),
    _route("GET", f"{APPS}/advanced-chat/workflow-runs", get_advanced_chat_workflow_runs, f"{APPS}/workflow-runs"),
    _route("GET", f"{APPS}/workflow-runs/<uuid:run_id>", get_workflow_run),
    _route("GET", f"{APPS}/workflow-runs/<uuid:run_id>/node-executions", get_node_executions),
    _route("GET", f"{APPS}/statistics/token-costs", get_token_costs, f"{APPS}/workflow/statistics/token-costs"),
    _route(
        "GET", f"{APPS}/workflow/statistics/token-costs", get_workflow_token_costs, f"{APPS}/statistics/token-costs"
    ),
    _route("POST", "/console/api/agent", post_agent),
    _route("GET", AGENT, get_agent),
    _route("GET", f"{AGENT}/composer", get_agent_composer),
    _route("GET", f"{AGENT}/logs", get_agent_logs, f"{AGENT}/logs/<uuid:conversation_id>/messages"),
    _route("GET", f"{AGENT}/logs/<uuid:conversation_id>/messages", get_agent_log_messages, f"{AGENT}/logs"),
    _route("GET", f"{AGENT}/statistics/summary", get_agent_statistics_summary),
    _route("GET", f"{AGENT}/versions", get_agent_versions, f"{AGENT}/versions/<uuid:version_id>"),
    _route("GET", f"{AGENT}/versions/<uuid:version_id>", get_agent_version, f"{AGENT}/versions"),
)
UNAUTHENTICATED = frozenset({get_setup, post_setup, post_login, post_refresh_token})
BEFORE_SETUP = frozenset({get_setup, post_setup, post_refresh_token})  # the rest answers 401 not_setup until then

METHOD_NOT_ALLOWED = ApiError(405, "method_not_allowed", "The method is not allowed for the requested URL.")


def match(method: str, path: str) -> tuple[Route, dict[str, str]]:
    """The route of a request (Flask routes before it authenticates): 404 or 405 otherwise."""
    path_matches = [(route, m) for route in ROUTES if (m := route.pattern.match(path))]
    if not path_matches:
        raise URL_NOT_FOUND
    for route, found in path_matches:
        if route.method == method:
            return route, found.groupdict()
    raise METHOD_NOT_ALLOWED
