"""Usage events to store, day windows to fetch, and the events a store holds."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from dify_meter.core.event import EVENT_COLUMNS, UsageEvent
from dify_meter.core.store import DuckDBStore


def make_event(event_id: str, day: date, **changes: object) -> UsageEvent:
    event = UsageEvent(
        event_id=event_id,
        source="message",
        usage_date=day,
        occurred_at=datetime(day.year, day.month, day.day, 12, tzinfo=UTC),
        app_id="app-1",
        app_name="Support Chat",
        app_mode="chat",
        user_type="end_user",
        user_id="alice",
        provider_raw="openai",
        model_raw="gpt-4o",
        input_tokens=100,
        output_tokens=20,
        total_tokens=120,
        cost=Decimal("0.0012345"),
        currency="USD",
        priced=True,
        approximate=False,
        conversation_id="c1",
        message_id=event_id,
        workflow_run_id=None,
        node_type=None,
    )
    return dataclasses.replace(event, **changes)


def day_window(first: date, last: date, timezone: str) -> tuple[datetime, datetime]:
    tz = ZoneInfo(timezone)
    return datetime.combine(first, time(), tz), datetime.combine(last + timedelta(days=1), time(), tz)


def stored_events(store: DuckDBStore) -> list[UsageEvent]:
    with store.connect_read_only() as conn:
        rows = conn.execute(f"SELECT {', '.join(EVENT_COLUMNS)} FROM raw_usage_events").fetchall()
    return [UsageEvent(*row) for row in rows]
