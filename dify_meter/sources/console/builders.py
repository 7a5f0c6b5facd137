"""Usage events from what Dify records report (`usage_facts`), by the rules of usage-semantics.md. No I/O."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, tzinfo

from dify_meter.core.event import UNKNOWN, UsageEvent, User, source_event
from dify_meter.sources.console.models import (
    AGENT_NODE_TYPE,
    App,
    ChatConversation,
    CompletionConversation,
    WorkflowAppLog,
)
from dify_meter.sources.console.usage_facts import MessageUsage, NodeUsage


def conversation_user(conversation: ChatConversation | CompletionConversation) -> User:
    """The end user's session id, else the console account (messages carry only the end-user UUID)."""
    if conversation.from_end_user_session_id:
        return User("end_user", conversation.from_end_user_session_id)
    if conversation.from_account_id:
        return User("account", conversation.from_account_id)
    return User("end_user", conversation.from_end_user_id or UNKNOWN)


def app_log_user(log: WorkflowAppLog) -> User:
    if log.created_by_end_user and log.created_by_end_user.session_id:
        return User("end_user", log.created_by_end_user.session_id)
    if log.created_by_account:
        return User("account", log.created_by_account.id)
    return User("end_user", log.created_by_end_user.id if log.created_by_end_user else UNKNOWN)


def message_event(
    app: App, message: MessageUsage, *, user: User, provider: str, model: str, approximate: bool, timezone: tzinfo
) -> UsageEvent:
    """A chat, agent-chat or completion message: tokens from the message, price from metadata.usage."""
    return source_event(
        event_id=message.message_id,
        source="message",
        occurred_at=message.created_at,
        timezone=timezone,
        app_id=app.id,
        app_name=app.name,
        app_mode=app.mode,
        user=user,
        provider=provider,
        model=model,
        input_tokens=message.input_tokens,
        output_tokens=message.output_tokens,
        price=message.price,
        currency=message.currency,
        conversation_id=message.conversation_id,
        message_id=message.message_id,
        workflow_run_id=message.workflow_run_id,
        node_type=None,
        approximate=approximate,
    )


@dataclass(frozen=True, slots=True)
class RunContext:
    """What a workflow run's node events share: the app, who ran it, and the time they are dated by."""

    app: App
    workflow_run_id: str
    occurred_at: datetime  # advanced-chat: the message's created_at; workflow: the run's created_at
    user: User
    conversation_id: str | None
    message_id: str | None


def node_events(
    run: RunContext, nodes: Iterable[NodeUsage], *, timezone: tzinfo, warnings: list[str]
) -> list[UsageEvent]:
    """One event per usage-bearing leaf node (and agent node); iteration/loop totals are never counted."""
    events = []
    for node in nodes:
        if node.input_tokens is None or node.output_tokens is None:
            warnings.append(
                f"{run.app.label}: node {node.node_execution_id} ({node.node_type}) of run {run.workflow_run_id} "
                f"reports {node.reported_tokens} tokens but no usage split; not counted"
            )
            continue
        provider, model = node.provider or UNKNOWN, node.model or UNKNOWN
        if node.node_type != AGENT_NODE_TYPE and UNKNOWN in (provider, model):
            warnings.append(
                f"{run.app.label}: node {node.node_execution_id} ({node.node_type}) of run {run.workflow_run_id} "
                "names no model (process_data truncated?); counted as 'unknown'"
            )
        events.append(
            source_event(
                event_id=node.node_execution_id,
                source="node",
                occurred_at=run.occurred_at,
                timezone=timezone,
                app_id=run.app.id,
                app_name=run.app.name,
                app_mode=run.app.mode,
                user=run.user,
                provider=provider,
                model=model,
                input_tokens=node.input_tokens,
                output_tokens=node.output_tokens,
                price=node.price,
                currency=node.currency,
                conversation_id=run.conversation_id,
                message_id=run.message_id,
                workflow_run_id=run.workflow_run_id,
                node_type=node.node_type,
            )
        )
    return events
