"""Dify 1.16.1's `GET /console/api/agent/{agent_id}/statistics/summary` (`AgentObservabilityService.
get_statistics_summary` of its source): every message of the agent app in the window, debugger turns included
unless a source is given, by day in the caller's timezone (`10-agent-statistics-summary.json`: 17150 tokens,
where the app's `statistics/token-costs` leaves the debugger out). Agent V2 workflow nodes and feedback are not
simulated: their rows count nothing here, and satisfaction is 0."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel

from dify_meter.sandbox.dify.agent_api import agent_app_of
from dify_meter.sandbox.dify.exchange import Call
from dify_meter.sandbox.dify.queries import bad_request, validate
from dify_meter.sandbox.dify.tables import DEBUGGER, Message
from dify_meter.sandbox.dify.time import local_date, localize, parse_console_minute

Json = dict[str, Any]


class AgentStatisticsQuery(BaseModel):
    source: str | None = None
    start: str | None = None
    end: str | None = None


# `AgentObservabilityService._SOURCE_ALIASES`: a statistics `source` names one invoke_from
_INVOKE_FROM = {
    "api": "service-api",
    "service-api": "service-api",
    "service_api": "service-api",
    "console": "explore",
    "explore": "explore",
    "explore-app": "explore",
    "explore_app": "explore",
    "web": "web-app",
    "web-app": "web-app",
    "web_app": "web-app",
    "debugger": DEBUGGER,
    "dev": DEBUGGER,
    "openapi": "openapi",
    "trigger": "trigger",
}


def _bound(value: str | None, label: str, tz: str) -> datetime | None:
    if not value:
        return None
    try:
        return localize(parse_console_minute(value), tz)
    except ValueError as error:
        raise bad_request(f"Invalid {label} time format: {error}") from None


def get_agent_statistics_summary(call: Call) -> tuple[int, Json]:
    app = agent_app_of(call)
    query = validate(AgentStatisticsQuery, call.args)
    source = (query.source or "all").strip().lower()
    if source not in ("all", "webapp") and source not in _INVOKE_FROM:
        raise bad_request(f"Unsupported source: {query.source}")
    tz = call.account.timezone or "UTC"
    start, end = _bound(query.start, "start", tz), _bound(query.end, "end", tz)
    days: defaultdict[date, list[Message]] = defaultdict(list)
    for message in call.ws.messages.values():
        if message.app_id != app.id or (source in _INVOKE_FROM and message.invoke_from != _INVOKE_FROM[source]):
            continue
        if (start and message.created_at < start) or (end and message.created_at >= end):
            continue
        days[local_date(message.created_at, tz)].append(message)
    rows = [_daily(day, days[day]) for day in sorted(days)]
    return 200, {"source": query.source or "all", "summary": _summary(rows), "charts": _charts(rows)}


def _daily(day: date, messages: list[Message]) -> Json:
    latencies = [m.provider_response_latency for m in messages]
    return {
        "date": str(day),
        "message_count": len(messages),
        "conversation_count": len({m.conversation_id for m in messages}),
        "end_user_count": len({m.from_end_user_id for m in messages if m.from_end_user_id}),
        "token_count": sum(m.message_tokens + m.answer_tokens for m in messages),
        "total_price": sum((m.total_price for m in messages), Decimal(0)),
        "avg_latency": sum(latencies) / len(latencies),
        "latency_sum": sum(latencies),
        "answer_tokens": sum(m.answer_tokens for m in messages),
    }


def _ratio(numerator: float, denominator: float, places: int) -> float:
    return round(numerator / denominator, places) if denominator else 0


def _charts(rows: list[Json]) -> Json:
    """`_build_charts` (no feedback is simulated: satisfaction is 0)."""
    return {
        "daily_messages": [{"date": r["date"], "message_count": r["message_count"]} for r in rows],
        "daily_conversations": [{"date": r["date"], "conversation_count": r["conversation_count"]} for r in rows],
        "daily_end_users": [{"date": r["date"], "terminal_count": r["end_user_count"]} for r in rows],
        "token_usage": [
            {
                "date": r["date"],
                "token_count": r["token_count"],
                "total_price": str(r["total_price"]),
                "currency": "USD",
            }
            for r in rows
        ],
        "average_session_interactions": [
            {"date": r["date"], "interactions": _ratio(r["message_count"], r["conversation_count"], 2)} for r in rows
        ],
        "average_response_time": [{"date": r["date"], "latency": round(r["avg_latency"] * 1000, 4)} for r in rows],
        "tokens_per_second": [
            {"date": r["date"], "tps": _ratio(r["answer_tokens"], r["latency_sum"], 4)} for r in rows
        ],
        "user_satisfaction_rate": [{"date": r["date"], "rate": _ratio(0, r["message_count"], 2)} for r in rows],
    }


def _summary(rows: list[Json]) -> Json:
    """`_build_summary`: sums of the days (conversations and end users too, as Dify adds them up)."""
    messages = sum(r["message_count"] for r in rows)
    latency = sum(r["latency_sum"] for r in rows)
    weighted = sum(r["avg_latency"] * r["message_count"] for r in rows)
    return {
        "total_messages": messages,
        "total_conversations": sum(r["conversation_count"] for r in rows),
        "total_end_users": sum(r["end_user_count"] for r in rows),
        "total_tokens": sum(r["token_count"] for r in rows),
        "total_price": str(sum((r["total_price"] for r in rows), Decimal(0))),
        "currency": "USD",
        "average_session_interactions": _ratio(messages, sum(r["conversation_count"] for r in rows), 2),
        "average_response_time": round(weighted / messages * 1000, 4) if messages else 0,
        "tokens_per_second": _ratio(sum(r["answer_tokens"] for r in rows), latency, 4),
        "user_satisfaction_rate": _ratio(0, messages, 2),
    }
