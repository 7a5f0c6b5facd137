"""The usage events a workspace really holds, computed straight from its tables.

This follows docs/usage-semantics.md and deliberately shares no code with the exporter
(`dify_meter.dify`): tests compare the two computations.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from dify_meter.core.event import UsageEvent, UserType
from dify_meter.sandbox.dify.tables import DEBUGGER, App, Message, NodeExecution
from dify_meter.sandbox.dify.time import local_date

if TYPE_CHECKING:
    from dify_meter.sandbox.dify.workspace import Workspace

LEAF_NODE_TYPES = ("llm", "question-classifier", "parameter-extractor", "agent")
DETAIL_READ_SETTINGS = ("auto", "never")
ZERO = Decimal(0)


def usage_events(
    ws: Workspace, window_start: datetime, window_end: datetime, timezone: str, detail_reads: str
) -> list[UsageEvent]:
    if window_start.tzinfo is None or window_end.tzinfo is None:
        raise ValueError("ground truth window bounds must be timezone-aware datetimes")
    if detail_reads not in DETAIL_READ_SETTINGS:
        raise ValueError(f"detail_reads must be one of {DETAIL_READ_SETTINGS}, got {detail_reads!r}")
    window = _Window(window_start, window_end, timezone)
    events: list[UsageEvent] = []
    for app in ws.apps.values():
        if app.status != "normal":
            continue
        if app.mode in ("chat", "agent-chat", "completion"):
            events += _message_events(ws, app, window, detail_reads)
        elif app.mode == "advanced-chat":
            events += _advanced_chat_events(ws, app, window)
        elif app.mode == "workflow":
            events += _workflow_events(ws, app, window)
    events.sort(key=lambda e: (e.occurred_at, e.event_id))
    return events


class _Window:
    def __init__(self, start: datetime, end: datetime, timezone: str) -> None:
        self.start, self.end, self.timezone = start, end, timezone

    def __contains__(self, moment: datetime) -> bool:
        return self.start <= moment < self.end


def _message_events(ws: Workspace, app: App, window: _Window, detail_reads: str) -> list[UsageEvent]:
    approximate = detail_reads == "never"
    if approximate and app.mode == "completion":
        return []  # without the detail there are no tokens for completion apps
    events = []
    for conversation in ws.conversations_of(app.id):
        config_id = app.app_model_config_id if approximate else conversation.app_model_config_id
        config = ws.app_model_configs[config_id or ""]
        user_type, user_id = ws.session_or_account(conversation.from_end_user_id, conversation.from_account_id)
        for message in ws.messages_of(conversation.id):
            if message.created_at not in window:
                continue
            cost, currency = _message_price(message)
            events.append(
                UsageEvent(
                    event_id=message.id,
                    source="message",
                    usage_date=local_date(message.created_at, window.timezone),
                    occurred_at=message.created_at,
                    app_id=app.id,
                    app_name=app.name,
                    app_mode=app.mode,
                    user_type=user_type,
                    user_id=user_id,
                    provider_raw=config.provider or "unknown",  # chat, agent-chat and completion configs have one
                    model_raw=config.model_name or "unknown",
                    input_tokens=message.message_tokens,
                    output_tokens=message.answer_tokens,
                    total_tokens=message.message_tokens + message.answer_tokens,
                    cost=cost,
                    currency=currency,
                    priced=cost != ZERO,
                    approximate=approximate,
                    conversation_id=conversation.id,
                    message_id=message.id,
                    workflow_run_id=None,
                    node_type=None,
                )
            )
    return events


def _message_price(message: Message) -> tuple[Decimal, str | None]:
    usage = (message.metadata or {}).get("usage")
    if not usage:
        return ZERO, None
    price = Decimal(usage["total_price"])
    return (price if price else ZERO), usage.get("currency")


def _advanced_chat_events(ws: Workspace, app: App, window: _Window) -> list[UsageEvent]:
    events = []
    for conversation in ws.conversations_of(app.id):
        if conversation.invoke_from == DEBUGGER:
            continue  # Dify's list hides them, so the exporter cannot see them
        user = ws.session_or_account(conversation.from_end_user_id, conversation.from_account_id)
        for message in ws.messages_of(conversation.id):
            if message.created_at not in window or not message.workflow_run_id:
                continue
            for node in ws.nodes_of(message.workflow_run_id):
                event = _node_event(node, app, user, message.created_at, window, message)
                if event:
                    events.append(event)
    return events


def _workflow_events(ws: Workspace, app: App, window: _Window) -> list[UsageEvent]:
    events = []
    for run in ws.runs_of(app.id):
        log = ws.log_of_run(run.id)
        if log is None or run.created_at not in window:
            continue  # no app log: a debugger run, or one still running
        user: tuple[UserType, str] = ("account", log.created_by)
        if log.created_by_role == "end_user":
            user = ("end_user", ws.end_users[log.created_by].session_id)
        for node in ws.nodes_of(run.id):
            event = _node_event(node, app, user, run.created_at, window, None)
            if event:
                events.append(event)
    return events


def _node_event(
    node: NodeExecution,
    app: App,
    user: tuple[UserType, str],
    occurred_at: datetime,
    window: _Window,
    message: Message | None,
) -> UsageEvent | None:
    if node.node_type not in LEAF_NODE_TYPES:
        return None  # iteration and loop totals repeat their children; other nodes call no model
    process_data: dict[str, Any] = node.process_data or {}
    usage = process_data.get("usage") or (node.outputs or {}).get("usage")
    if not usage:
        return None
    metadata = node.execution_metadata or {}
    price = Decimal(metadata["total_price"] if "total_price" in metadata else usage["total_price"])
    currency = metadata.get("currency", usage.get("currency"))
    input_tokens, output_tokens = int(usage["prompt_tokens"]), int(usage["completion_tokens"])
    return UsageEvent(
        event_id=node.id,
        source="node",
        usage_date=local_date(occurred_at, window.timezone),
        occurred_at=occurred_at,
        app_id=app.id,
        app_name=app.name,
        app_mode=app.mode,
        user_type=user[0],
        user_id=user[1],
        provider_raw=process_data.get("model_provider") or "unknown",
        model_raw=process_data.get("model_name") or "unknown",
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        total_tokens=input_tokens + output_tokens,
        cost=price if price else ZERO,
        currency=currency,
        priced=price != ZERO,
        approximate=False,
        conversation_id=message.conversation_id if message else None,
        message_id=message.id if message else None,
        workflow_run_id=node.workflow_run_id,
        node_type=node.node_type,
    )
