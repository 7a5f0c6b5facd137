"""Dify's own daily totals (`statistics/token-costs`), reproduced from its SQL.

Messages: `invoke_from != 'debugger'`, `start <= created_at < end`, grouped by the local date in
the account timezone, summing the message columns (not metadata). Workflow: `app-run` runs only,
summing `workflow_runs.total_tokens`.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from dify_meter.sandbox.dify.tables import DEBUGGER
from dify_meter.sandbox.dify.time import local_date, localize

if TYPE_CHECKING:
    from dify_meter.sandbox.dify.workspace import Workspace

# Numeric(10,7) sums keep 7 places, so an all-zero sum prints as "0E-7" like PostgreSQL's via Python.
ZERO_PRICE = Decimal("0E-7")


@dataclass(frozen=True)
class DailyTokenCost:
    date: date
    token_count: int
    total_price: Decimal


@dataclass(frozen=True)
class DailyWorkflowTokens:
    date: date
    token_count: int


class _Bounds:
    def __init__(self, start_local: datetime | None, end_local: datetime | None, tz: str) -> None:
        self.start = localize(start_local, tz) if start_local else None
        self.end = localize(end_local, tz) if end_local else None

    def __contains__(self, moment: datetime) -> bool:
        return (self.start is None or moment >= self.start) and (self.end is None or moment < self.end)


def message_token_costs(
    ws: Workspace, app_id: str, start_local: datetime | None, end_local: datetime | None, tz: str
) -> list[DailyTokenCost]:
    bounds = _Bounds(start_local, end_local, tz)
    tokens: defaultdict[date, int] = defaultdict(int)
    prices: defaultdict[date, Decimal] = defaultdict(lambda: ZERO_PRICE)
    for conversation in ws.conversations_of(app_id):
        for message in ws.messages_of(conversation.id):
            if message.invoke_from == DEBUGGER or message.created_at not in bounds:
                continue
            day = local_date(message.created_at, tz)
            tokens[day] += message.message_tokens + message.answer_tokens
            prices[day] += message.total_price
    return [DailyTokenCost(day, tokens[day], prices[day]) for day in sorted(tokens)]


def workflow_token_costs(
    ws: Workspace, app_id: str, start_local: datetime | None, end_local: datetime | None, tz: str
) -> list[DailyWorkflowTokens]:
    bounds = _Bounds(start_local, end_local, tz)
    tokens: defaultdict[date, int] = defaultdict(int)
    for run in ws.runs_of(app_id):
        if run.triggered_from == "app-run" and run.created_at in bounds:
            tokens[local_date(run.created_at, tz)] += run.total_tokens
    return [DailyWorkflowTokens(day, tokens[day]) for day in sorted(tokens)]
