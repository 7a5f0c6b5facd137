"""Days of usage to deliver, and what the store and the reference API_Meter hold after a delivery."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from dify_meter.core.store import DuckDBStore
from dify_meter.usage.aggregates import rebuild_aggregate
from dify_meter.usage.normalize import Normalizer
from dify_meter.usage.raw_events import replace_window
from dify_meter_tests.support.events import make_event

DAY1, DAY2, DAY3 = date(2026, 11, 10), date(2026, 11, 11), date(2026, 11, 12)


def load_day(store: DuckDBStore, day: date, events) -> None:
    with store.connect() as conn:
        replace_window(conn, day, day, events)
        rebuild_aggregate(conn, "per_model", day, day, Normalizer.load())


def day_events(day: date, scale: int = 1):
    return [
        make_event(
            f"{day}-a",
            day,
            input_tokens=100 * scale,
            output_tokens=10,
            total_tokens=100 * scale + 10,
            cost=Decimal("0.0012345") * scale,
        ),
        make_event(
            f"{day}-b",
            day,
            provider_raw="langgenius/anthropic/anthropic",
            model_raw="claude-3-5-sonnet-20241022",
            cost=Decimal("0.5"),
        ),
        make_event(
            f"{day}-c",
            day,
            provider_raw="langgenius/tongyi/tongyi",
            model_raw="qwen-max",
            currency="RMB",
            cost=Decimal("0.084"),
        ),
    ]


def held(server) -> dict[tuple, tuple]:
    return {
        (str(k.usage_date), k.provider, k.model): (r.total_tokens, r.request_count, r.cost_actual, r.currency)
        for k, r in server.records().items()
    }


def expected(store) -> dict[tuple, tuple]:
    with store.connect() as conn:
        rows = conn.execute(
            "SELECT usage_date, provider, model, total_tokens, request_count, cost, currency FROM usage_per_model"
        ).fetchall()
    return {(str(r[0]), r[1], r[2]): (r[3], r[4], r[5], r[6]) for r in rows}
