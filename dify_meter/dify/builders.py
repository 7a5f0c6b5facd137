"""Usage events from parsed Dify records, by the rules of shared/specs/usage-semantics.md. No I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo
from decimal import Decimal

from dify_meter.dify.models import (
    AGENT_NODE_TYPE,
    App,
    ChatConversation,
    CompletionConversation,
    Message,
    NodeExecution,
    Usage,
    WorkflowAppLog,
)
from dify_meter.usage.event import UsageEvent, UserType

UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class User:
    type: UserType
    id: str


@dataclass(frozen=True, slots=True)
class Cost:
    amount: Decimal
    currency: str | None
    priced: bool


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


def cost_of(price: Decimal | None, currency: str | None) -> Cost:
    """No price or a price of 0 means unpriced (not free): cost 0, currency as reported."""
    if price is None or price == 0:
        return Cost(Decimal(0), currency, False)
    return Cost(price, currency, True)


def message_event(app: App, message: Message, *, user: User, provider: str, model: str, approximate: bool,
                  timezone: tzinfo) -> UsageEvent:
    """A chat, agent-chat or completion message: tokens from the message, price from metadata.usage."""
    usage = message.metadata.usage
    cost = cost_of(usage.total_price, usage.currency) if usage else cost_of(None, None)
    return UsageEvent(
        event_id=message.id,
        source="message",
        usage_date=message.created_at.astimezone(timezone).date(),
        occurred_at=message.created_at,
        app_id=app.id,
        app_name=app.name,
        app_mode=app.mode,
        user_type=user.type,
        user_id=user.id,
        provider_raw=provider,
        model_raw=model,
        input_tokens=message.message_tokens,
        output_tokens=message.answer_tokens,
        total_tokens=message.message_tokens + message.answer_tokens,
        cost=cost.amount,
        currency=cost.currency,
        priced=cost.priced,
        approximate=approximate,
        conversation_id=message.conversation_id,
        message_id=message.id,
        workflow_run_id=message.workflow_run_id,
        node_type=None,
    )


def _node_usage(node: NodeExecution) -> Usage | None:
    # process_data.usage since Dify 1.0, outputs.usage before (and always for agent nodes)
    return node.typed_process_data.usage or node.typed_outputs.usage


def _node_model(node: NodeExecution) -> tuple[str, str]:
    process = node.typed_process_data
    return process.model_provider or UNKNOWN, process.model_name or UNKNOWN


def _node_cost(node: NodeExecution, usage: Usage) -> Cost:
    metadata = node.typed_metadata
    if metadata.total_price is not None:
        return cost_of(metadata.total_price, metadata.currency or usage.currency)
    return cost_of(usage.total_price, usage.currency)


@dataclass(frozen=True, slots=True)
class RunContext:
    """What a workflow run's node events share: the app, who ran it, and the time they are dated by."""

    app: App
    workflow_run_id: str
    occurred_at: datetime  # advanced-chat: the message's created_at; workflow: the run's created_at
    user: User
    conversation_id: str | None
    message_id: str | None


def node_events(run: RunContext, nodes: list[NodeExecution], *, timezone: tzinfo,
                warnings: list[str]) -> list[UsageEvent]:
    """One event per usage-bearing leaf node (and agent node); iteration/loop totals are never counted."""
    events = []
    for node in nodes:
        if not node.may_carry_usage:
            continue
        usage = _node_usage(node)
        if usage is None:
            if node.typed_metadata.total_tokens:
                warnings.append(
                    f"{run.app.label}: node {node.id} ({node.node_type}) of run {run.workflow_run_id} reports "
                    f"{node.typed_metadata.total_tokens} tokens but no usage split; not counted"
                )
            continue
        provider, model = _node_model(node)
        if node.node_type != AGENT_NODE_TYPE and UNKNOWN in (provider, model):
            warnings.append(
                f"{run.app.label}: node {node.id} ({node.node_type}) of run {run.workflow_run_id} names no "
                "model (process_data truncated?); counted as 'unknown'"
            )
        cost = _node_cost(node, usage)
        events.append(UsageEvent(
            event_id=node.id,
            source="node",
            usage_date=run.occurred_at.astimezone(timezone).date(),
            occurred_at=run.occurred_at,
            app_id=run.app.id,
            app_name=run.app.name,
            app_mode=run.app.mode,
            user_type=run.user.type,
            user_id=run.user.id,
            provider_raw=provider,
            model_raw=model,
            input_tokens=usage.prompt_tokens,
            output_tokens=usage.completion_tokens,
            total_tokens=usage.prompt_tokens + usage.completion_tokens,
            cost=cost.amount,
            currency=cost.currency,
            priced=cost.priced,
            approximate=False,
            conversation_id=run.conversation_id,
            message_id=run.message_id,
            workflow_run_id=run.workflow_run_id,
            node_type=node.node_type,
        ))
    return events
