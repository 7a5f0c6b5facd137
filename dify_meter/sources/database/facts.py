"""What the database knows about an event beyond the `UsageEvent` columns (the store gets them as new columns)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from dify_meter.core.event import UsageEvent

ReadFrom = Literal["console", "database"]
# usage_metadata: message_metadata.usage (what the console shows); message_row: messages.total_price/currency of a
# message without usage metadata (the console calls it unpriced); node: the node's execution_metadata / usage
PriceSource = Literal["usage_metadata", "message_row", "node"]


@dataclass(frozen=True, slots=True)
class EventFacts:
    event_id: str
    read_from: ReadFrom
    price_source: PriceSource
    invoke_from: str | None  # messages.invoke_from (else the conversation's); None for workflow runs
    triggered_from: str | None  # workflow_runs.triggered_from (app-run, webhook, …); None for chat messages


@dataclass(frozen=True, slots=True)
class DatabaseEvent:
    event: UsageEvent
    facts: EventFacts
