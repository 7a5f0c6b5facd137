"""What a message or a workflow node tells about usage, reduced to the fields events are built from.

A fresh read and the fetch caches (`dify_meter.sources.console.caches`) both go through these records, so an event
rebuilt from a cache is, field for field, the event a fresh read builds. They are also much smaller than
the parsed responses, which matters when a large day is read.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from dify_meter.sources.console.models import Message, NodeExecution


@dataclass(frozen=True, slots=True)
class MessageUsage:
    message_id: str
    conversation_id: str
    created_at: datetime
    input_tokens: int  # message_tokens
    output_tokens: int  # answer_tokens
    price: Decimal | None  # metadata.usage.total_price; None when the message has no usage metadata
    currency: str | None  # metadata.usage.currency
    workflow_run_id: str | None  # advanced-chat: the run whose nodes are the message's events

    @classmethod
    def of(cls, message: Message) -> MessageUsage:
        usage = message.metadata.usage
        return cls(
            message.id,
            message.conversation_id,
            message.created_at,
            message.message_tokens,
            message.answer_tokens,
            usage.total_price if usage else None,
            usage.currency if usage else None,
            message.workflow_run_id,
        )


@dataclass(frozen=True, slots=True)
class NodeUsage:
    """A usage-bearing node (leaf LLM node or agent) of a workflow run."""

    node_execution_id: str
    node_type: str
    provider: str | None  # process_data.model_provider; None when the node names none (agent, truncated)
    model: str | None
    input_tokens: int | None  # None: the node reports tokens but no prompt/completion split (not counted)
    output_tokens: int | None
    price: Decimal | None  # execution_metadata.total_price, else the usage's
    currency: str | None
    reported_tokens: int | None  # execution_metadata.total_tokens


def node_usages(nodes: Iterable[NodeExecution]) -> list[NodeUsage]:
    """The nodes of a run that carry usage, or claim tokens without it; never iteration/loop totals."""
    usages = []
    for node in nodes:
        if not node.may_carry_usage:
            continue
        # process_data.usage since Dify 1.0, outputs.usage before (and always for agent nodes)
        usage = node.typed_process_data.usage or node.typed_outputs.usage
        metadata = node.typed_metadata
        if usage is None and not metadata.total_tokens:
            continue  # a node that never called its model (failed early, still running)
        price: Decimal | None = None
        currency: str | None = None
        if metadata.total_price is not None:
            price, currency = metadata.total_price, metadata.currency or (usage.currency if usage else None)
        elif usage is not None:
            price, currency = usage.total_price, usage.currency
        process = node.typed_process_data
        usages.append(
            NodeUsage(
                node.id,
                node.node_type,
                process.model_provider,
                process.model_name,
                usage.prompt_tokens if usage else None,
                usage.completion_tokens if usage else None,
                price,
                currency,
                metadata.total_tokens,
            )
        )
    return usages
