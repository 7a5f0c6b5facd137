from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from dify_meter.core.store import DuckDBStore
from dify_meter.usage.aggregates import rebuild_aggregate
from dify_meter.usage.normalize import Normalizer
from dify_meter.usage.raw_events import replace_window
from dify_meter_tests.support.events import make_event

DAY = date(2026, 11, 10)


@pytest.fixture
def store(tmp_path):
    return DuckDBStore(tmp_path / "m.duckdb")


@pytest.fixture(scope="module")
def normalizer():
    return Normalizer.load()


def load(store, events, day=DAY):
    with store.connect() as conn:
        replace_window(conn, day, day, events)


def per_model(store):
    with store.connect() as conn:
        return conn.execute(
            "SELECT provider, model, input_tokens, output_tokens, total_tokens, request_count, cost, currency, "
            "currency_conflict, unpriced_events, approximate_events FROM usage_per_model ORDER BY 1, 2"
        ).fetchall()


def test_both_provider_id_forms_merge_into_one_row(store, normalizer):
    load(
        store,
        [
            make_event("a", DAY, provider_raw="openai", model_raw="gpt-4o", cost=Decimal("0.001")),
            make_event("b", DAY, provider_raw="langgenius/openai/openai", model_raw="gpt-4o", cost=Decimal("0.002")),
        ],
    )
    with store.connect() as conn:
        rebuild_aggregate(conn, "per_model", DAY, DAY, normalizer)
    assert per_model(store) == [
        ("openai", "gpt-4o", 200, 40, 240, 2, Decimal("0.003"), "USD", False, 0, 0),
    ]


def test_unpriced_events_take_the_keys_priced_currency(store, normalizer):
    load(
        store,
        [
            make_event(
                "a",
                DAY,
                provider_raw="langgenius/tongyi/tongyi",
                model_raw="qwen-max",
                currency="RMB",
                cost=Decimal("0.084"),
            ),
            make_event(
                "b", DAY, provider_raw="tongyi", model_raw="qwen-max", currency="USD", cost=Decimal(0), priced=False
            ),
            make_event(
                "c",
                DAY,
                provider_raw="langgenius/ollama/ollama",
                model_raw="llama3.1:8b",
                currency="USD",
                cost=Decimal(0),
                priced=False,
            ),
        ],
    )
    with store.connect() as conn:
        rebuild_aggregate(conn, "per_model", DAY, DAY, normalizer)
        rebuild_aggregate(conn, "workspace", DAY, DAY, normalizer)
        workspace = conn.execute(
            "SELECT currency, request_count, cost, unpriced_events FROM usage_workspace ORDER BY 1"
        ).fetchall()
    rows = {(r[0], r[1]): r for r in per_model(store)}
    assert rows[("alibaba", "qwen-max")][7:10] == ("RMB", False, 1)
    assert rows[("ollama", "llama3.1:8b")][7] == "USD"
    assert workspace == [("RMB", 2, Decimal("0.084"), 1), ("USD", 1, Decimal(0), 1)]


def test_a_key_with_two_priced_currencies_is_marked(store, normalizer):
    load(
        store,
        [
            make_event("a", DAY, currency="USD", cost=Decimal("0.01")),
            make_event("b", DAY, currency="EUR", cost=Decimal("0.02")),
        ],
    )
    with store.connect() as conn:
        rebuild_aggregate(conn, "per_model", DAY, DAY, normalizer)
    (row,) = per_model(store)
    assert row[7:9] == ("EUR/USD", True)


def test_per_user_and_per_app_keys(store, normalizer):
    load(
        store,
        [
            make_event("a", DAY, user_id="alice", app_id="x", app_name="Old name"),
            make_event(
                "b",
                DAY,
                user_id="alice",
                app_id="x",
                app_name="New name",
                occurred_at=make_event("b", DAY).occurred_at.replace(hour=13),
            ),
            make_event(
                "c", DAY, user_type="account", user_id="acct-1", app_id="y", app_name="Other", app_mode="workflow"
            ),
        ],
    )
    with store.connect() as conn:
        rebuild_aggregate(conn, "per_user", DAY, DAY, normalizer)
        rebuild_aggregate(conn, "per_app", DAY, DAY, normalizer)
        users = conn.execute("SELECT user_type, user_id, request_count FROM usage_per_user ORDER BY 2").fetchall()
        apps = conn.execute("SELECT app_id, app_name, app_mode, request_count FROM usage_per_app ORDER BY 1").fetchall()
    assert users == [("account", "acct-1", 1), ("end_user", "alice", 2)]
    assert apps == [("x", "New name", "chat", 2), ("y", "Other", "workflow", 1)]


def test_rebuild_replaces_only_the_window(store, normalizer):
    other = date(2026, 11, 11)
    load(store, [make_event("a", DAY)])
    load(store, [make_event("b", other)], day=other)
    with store.connect() as conn:
        rebuild_aggregate(conn, "per_model", DAY, other, normalizer)
        replace_window(conn, other, other, [])
        rebuild_aggregate(conn, "per_model", other, other, normalizer)
        days = conn.execute("SELECT usage_date, request_count FROM usage_per_model ORDER BY 1").fetchall()
    assert days == [(DAY, 1)]


def test_weekly_and_monthly_rollups(store, normalizer):
    days = [date(2026, 11, 29), date(2026, 11, 30), date(2026, 12, 1)]  # Sunday, Monday, Tuesday
    for i, day in enumerate(days):
        load(store, [make_event(f"e{i}", day)], day=day)
    with store.connect() as conn:
        rebuild_aggregate(conn, "workspace", days[0], days[-1], normalizer)
        weekly = conn.execute("SELECT period_start, request_count FROM usage_workspace_weekly ORDER BY 1").fetchall()
        monthly = conn.execute("SELECT period_start, request_count FROM usage_workspace_monthly ORDER BY 1").fetchall()
    assert weekly == [(date(2026, 11, 23), 1), (date(2026, 11, 30), 2)]
    assert monthly == [(date(2026, 11, 1), 2), (date(2026, 12, 1), 1)]
