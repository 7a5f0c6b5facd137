"""One unit of usage: an LLM call as Dify reports it (see docs/usage-semantics.md).

Both the Dify extraction (`dify_meter.sources.console.events`) and the simulator's ground truth
(`dify_meter.sandbox.dify.generate`) produce these, independently, so tests can compare them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo
from decimal import Decimal
from typing import Literal

EventSource = Literal["message", "node"]
UserType = Literal["end_user", "account"]
ReadFrom = Literal["console", "database"]
# Where the database source took a price from: usage_metadata is message_metadata.usage (what the console
# shows); message_row is messages.total_price/currency of a message without usage metadata (the console calls
# it unpriced); node is the node's execution_metadata / usage. NULL for console reads.
PriceSource = Literal["usage_metadata", "message_row", "node"]


@dataclass(frozen=True, slots=True)
class UsageEvent:
    event_id: str  # message id (source "message") or node execution id (source "node")
    source: EventSource
    usage_date: date  # calendar day of occurred_at in DIFY_TIMEZONE
    occurred_at: datetime  # timezone-aware UTC: message created_at, or the workflow run's start
    app_id: str
    app_name: str
    app_mode: str  # chat, agent-chat, completion, advanced-chat, workflow
    user_type: UserType
    user_id: str  # end user's session id, else the console account id
    provider_raw: str  # as Dify stored it ("openai", "langgenius/openai/openai", "unknown" for agent nodes)
    model_raw: str
    input_tokens: int
    output_tokens: int
    total_tokens: int  # always input_tokens + output_tokens
    cost: Decimal  # 0 when unpriced
    currency: str | None  # as reported; None when Dify reported none
    priced: bool  # False when Dify had no price or a price of 0
    approximate: bool  # True when the model is the app's current one (DIFY_DETAIL_READS=never)
    conversation_id: str | None
    message_id: str | None
    workflow_run_id: str | None
    node_type: str | None  # llm, question-classifier, parameter-extractor, agent; None for messages
    # How the event was read, not what it is: two reads of one call are equal events whatever their source.
    read_from: ReadFrom = field(default="console", compare=False)
    price_source: PriceSource | None = field(default=None, compare=False)
    invoke_from: str | None = field(default=None, compare=False)  # Dify's messages.invoke_from, when read
    triggered_from: str | None = field(default=None, compare=False)  # Dify's workflow_runs.triggered_from

    def __post_init__(self) -> None:
        if self.occurred_at.tzinfo is None:
            raise ValueError(f"event {self.event_id}: occurred_at must be timezone-aware")
        if self.total_tokens != self.input_tokens + self.output_tokens:
            raise ValueError(f"event {self.event_id}: total_tokens != input_tokens + output_tokens")
        if not isinstance(self.cost, Decimal):
            raise TypeError(f"event {self.event_id}: cost must be a Decimal")

    def as_row(self) -> tuple:
        return dataclasses.astuple(self)


EVENT_COLUMNS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(UsageEvent))


# The rules every source applies the same way when it builds events.
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


def cost_of(price: Decimal | None, currency: str | None) -> Cost:
    """No price or a price of 0 means unpriced (not free): cost 0, currency as reported."""
    if price is None or price == 0:
        return Cost(Decimal(0), currency, False)
    return Cost(price, currency, True)


def source_event(
    *,
    event_id: str,
    source: EventSource,
    occurred_at: datetime,
    timezone: tzinfo,
    app_id: str,
    app_name: str,
    app_mode: str,
    user: User,
    provider: str,
    model: str,
    input_tokens: int,
    output_tokens: int,
    price: Decimal | None,
    currency: str | None,
    conversation_id: str | None,
    message_id: str | None,
    workflow_run_id: str | None,
    node_type: str | None,
    approximate: bool = False,
    read_from: ReadFrom = "console",
    price_source: PriceSource | None = None,
    invoke_from: str | None = None,
    triggered_from: str | None = None,
) -> UsageEvent:
    """An event as a source reads it: dated by `occurred_at` in `timezone`, its total the sum of its tokens, its
    price by `cost_of`. (The simulator's ground truth builds its events apart, to check these rules.)"""
    cost = cost_of(price, currency)
    return UsageEvent(
        event_id=event_id,
        source=source,
        usage_date=occurred_at.astimezone(timezone).date(),
        occurred_at=occurred_at,
        app_id=app_id,
        app_name=app_name,
        app_mode=app_mode,
        user_type=user.type,
        user_id=user.id,
        provider_raw=provider,
        model_raw=model,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        total_tokens=input_tokens + output_tokens,
        cost=cost.amount,
        currency=cost.currency,
        priced=cost.priced,
        approximate=approximate,
        conversation_id=conversation_id,
        message_id=message_id,
        workflow_run_id=workflow_run_id,
        node_type=node_type,
        read_from=read_from,
        price_source=price_source,
        invoke_from=invoke_from,
        triggered_from=triggered_from,
    )
