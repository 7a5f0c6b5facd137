"""Ground-truth aggregates grouped in plain Python (not SQL), and the aggregates a store holds."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from dify_meter.core.event import UsageEvent
from dify_meter.usage.aggregate_modes import AGGREGATE_TABLES
from dify_meter.usage.normalize import Normalizer

NORMALIZER = Normalizer.load()


def resolved_currencies(events: list[UsageEvent]) -> dict[str, str]:
    """event id -> currency by the semantics spec: unpriced events take their key's priced currency."""
    priced: dict[tuple, set[str]] = defaultdict(set)
    for e in events:
        n = NORMALIZER.normalize(e.provider_raw, e.model_raw)
        if e.priced:
            priced[(e.usage_date, n.provider, n.model)].add(e.currency or "USD")
    result = {}
    for e in events:
        n = NORMALIZER.normalize(e.provider_raw, e.model_raw)
        key_currencies = priced.get((e.usage_date, n.provider, n.model))
        result[e.event_id] = (e.currency or "USD") if e.priced else (min(key_currencies) if key_currencies else "USD")
    return result


def expected(events: list[UsageEvent], mode: str) -> dict[tuple, tuple]:
    currency = resolved_currencies(events)
    sums: dict[tuple, list] = defaultdict(lambda: [0, 0, 0, 0, Decimal(0), 0, 0])
    for e in events:
        n = NORMALIZER.normalize(e.provider_raw, e.model_raw)
        key = {
            "per_model": (e.usage_date, n.provider, n.model),
            "per_user": (e.usage_date, e.user_type, e.user_id, currency[e.event_id]),
            "per_app": (e.usage_date, e.app_id, currency[e.event_id]),
            "workspace": (e.usage_date, currency[e.event_id]),
        }[mode]
        s = sums[key]
        s[0] += e.input_tokens
        s[1] += e.output_tokens
        s[2] += e.total_tokens
        s[3] += 1
        s[4] += e.cost
        s[5] += not e.priced
        s[6] += e.approximate
    return {key: tuple(values) for key, values in sums.items()}


KEYS = {
    "per_model": "usage_date, provider, model",
    "per_user": "usage_date, user_type, user_id, currency",
    "per_app": "usage_date, app_id, currency",
    "workspace": "usage_date, currency",
}


def actual(conn, mode: str) -> dict[tuple, tuple]:
    rows = conn.execute(
        f"SELECT {KEYS[mode]}, input_tokens, output_tokens, total_tokens, request_count, cost, unpriced_events, "
        f"approximate_events FROM {AGGREGATE_TABLES[mode]}"
    ).fetchall()
    width = len(KEYS[mode].split(","))
    return {tuple(row[:width]): tuple(row[width:]) for row in rows}
