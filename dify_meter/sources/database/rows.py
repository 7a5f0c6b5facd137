"""Usage events from the rows the database source reads, by the console source's rules (no I/O).

Prices and token counts arrive as the exact text of Dify's JSON or as NUMERIC, never through float.
Times are Dify's naive UTC; they are truncated to whole seconds as the console API gives them, so both
sources date and order events alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, tzinfo
from decimal import Decimal
from typing import Any

from dify_meter.core.event import UNKNOWN, PriceSource, UsageEvent, User, source_event

AGENT_NODE_TYPE = "agent"
Row = Mapping[str, Any]


class NodeWithoutSplit(Exception):
    """A node reports tokens but no prompt/completion split: not counted (the console warns the same)."""


def utc_seconds(naive_utc: datetime) -> datetime:
    return naive_utc.replace(tzinfo=UTC, microsecond=0)


def conversation_user(row: Row) -> User:
    if row["session_id"]:
        return User("end_user", row["session_id"])
    if row["from_account_id"]:
        return User("account", row["from_account_id"])
    return User("end_user", row["from_end_user_id"] or UNKNOWN)


def app_log_user(row: Row) -> User:
    if row["created_by_role"] == "end_user":
        return User("end_user", row["session_id"] or row["created_by"] or UNKNOWN)
    return User("account", row["created_by"] or UNKNOWN)


def message_event(app: Row, row: Row, timezone: tzinfo) -> UsageEvent:
    """Price from metadata.usage as on the console; a message without it gets its row's real price (flagged)."""
    price: Decimal | None
    price_source: PriceSource
    if row["usage_price"] is not None:
        price, currency, price_source = Decimal(row["usage_price"]), row["usage_currency"], "usage_metadata"
    else:
        price, currency, price_source = row["row_price"], row["row_currency"], "message_row"
    if row["message_provider"] and row["message_model"]:
        provider, model = row["message_provider"], row["message_model"]
    else:
        provider, model = row["config_provider"] or UNKNOWN, row["config_model"] or UNKNOWN
    occurred_at = utc_seconds(row["created_at"])
    return source_event(
        event_id=row["message_id"],
        source="message",
        occurred_at=occurred_at,
        timezone=timezone,
        app_id=app["app_id"],
        app_name=app["app_name"],
        app_mode=app["app_mode"],
        user=conversation_user(row),
        provider=provider,
        model=model,
        input_tokens=row["message_tokens"],
        output_tokens=row["answer_tokens"],
        price=price,
        currency=currency,
        conversation_id=row["conversation_id"],
        message_id=row["message_id"],
        workflow_run_id=None,
        node_type=None,
        read_from="database",
        price_source=price_source,
        invoke_from=row["message_invoke_from"] or row["conversation_invoke_from"],
    )


def node_event(
    app: Row,
    row: Row,
    *,
    occurred_at: datetime,
    user: User,
    conversation_id: str | None,
    message_id: str | None,
    invoke_from: str | None,
    timezone: tzinfo,
    warnings: list[str],
) -> UsageEvent | None:
    """A leaf LLM node or agent node; None for one that never called its model. Raises NodeWithoutSplit."""
    metadata_tokens = int(row["metadata_tokens"]) if row["metadata_tokens"] is not None else None
    if not row["has_usage"]:
        if metadata_tokens:
            raise NodeWithoutSplit(row["node_execution_id"])
        return None
    if row["prompt_tokens"] is None or row["completion_tokens"] is None:
        raise NodeWithoutSplit(row["node_execution_id"])
    price: Decimal | None
    if row["metadata_price"] is not None:
        price = Decimal(row["metadata_price"])
        currency = row["metadata_currency"] or row["usage_currency"]
    else:
        price = Decimal(row["usage_price"]) if row["usage_price"] is not None else None
        currency = row["usage_currency"]
    provider, model = row["provider"] or UNKNOWN, row["model"] or UNKNOWN
    if row["node_type"] != AGENT_NODE_TYPE and UNKNOWN in (provider, model):
        warnings.append(
            f"{app['app_name']} ({app['app_id']}): node {row['node_execution_id']} ({row['node_type']}) "
            f"of run {row['workflow_run_id']} names no model (process_data truncated?); "
            "counted as 'unknown'"
        )
    return source_event(
        event_id=row["node_execution_id"],
        source="node",
        occurred_at=occurred_at,
        timezone=timezone,
        app_id=app["app_id"],
        app_name=app["app_name"],
        app_mode=app["app_mode"],
        user=user,
        provider=provider,
        model=model,
        input_tokens=int(row["prompt_tokens"]),
        output_tokens=int(row["completion_tokens"]),
        price=price,
        currency=currency,
        conversation_id=conversation_id,
        message_id=message_id,
        workflow_run_id=row["workflow_run_id"],
        node_type=row["node_type"],
        read_from="database",
        price_source="node",
        invoke_from=invoke_from,
        triggered_from=row["triggered_from"],
    )
