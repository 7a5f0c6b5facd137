"""Every aggregate equals the simulator's ground truth, grouped here in plain Python (not SQL)."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal

import pytest

from dify_meter.core.event import UsageEvent
from dify_meter.core.store import DuckDBStore
from dify_meter.sandbox.dify.generate import generate_workspace
from dify_meter.sandbox.dify.server import DifySimulator
from dify_meter.usage.aggregate_modes import AGGREGATE_TABLES
from dify_meter.usage.aggregates import rebuild_aggregate
from dify_meter.usage.normalize import Normalizer
from dify_meter.usage.refresh import refresh_raw_usage
from dify_meter_tests.usage.test_collect import day_window, settings_for

pytestmark = pytest.mark.integration
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


@pytest.mark.parametrize(
    ("seed", "timezone", "first", "detail_reads"),
    [
        (7, "UTC", date(2026, 6, 1), "auto"),
        (21, "Asia/Tokyo", date(2026, 6, 1), "auto"),
        (42, "America/New_York", date(2026, 10, 31), "auto"),
        (8, "Europe/Berlin", date(2026, 3, 28), "never"),
    ],
)
def test_every_aggregate_equals_the_ground_truth(tmp_path, seed, timezone, first, detail_reads):
    last = first + timedelta(days=2)
    workspace = generate_workspace(seed=seed, start_date=first - timedelta(days=1), days=5)
    store = DuckDBStore(tmp_path / "m.duckdb")
    start, end = day_window(first, last, timezone)
    with DifySimulator(workspace) as simulator:
        settings = settings_for(simulator, store, timezone).model_copy(update={"dify_detail_reads": detail_reads})
        refresh_raw_usage(settings, store, start, end)
    truth = workspace.ground_truth(start, end, timezone, detail_reads=detail_reads)
    with store.connect() as conn:
        for mode in AGGREGATE_TABLES:
            rebuild_aggregate(conn, mode, first, last, NORMALIZER)
            assert actual(conn, mode) == expected(truth, mode), mode


def test_both_provider_id_forms_of_a_model_make_one_row(tmp_path):
    first, last = date(2026, 6, 1), date(2026, 6, 3)
    workspace = generate_workspace(seed=7, start_date=first - timedelta(days=1), days=5)
    start, end = day_window(first, last, "UTC")
    forms: dict[tuple, set[str]] = defaultdict(set)
    for e in workspace.ground_truth(start, end, "UTC"):
        n = NORMALIZER.normalize(e.provider_raw, e.model_raw)
        forms[(e.usage_date, n.provider, n.model)].add(e.provider_raw)
    merged_keys = {key for key, providers in forms.items() if len(providers) > 1}
    assert merged_keys, "the workspace must use both provider id forms for one model on one day"
    assert any(provider == "openai" and model == "gpt-4o" for _, provider, model in merged_keys)
    store = DuckDBStore(tmp_path / "m.duckdb")
    with DifySimulator(workspace) as simulator:
        refresh_raw_usage(settings_for(simulator, store, "UTC"), store, start, end)
    with store.connect() as conn:
        rebuild_aggregate(conn, "per_model", first, last, NORMALIZER)
        rows = conn.execute("SELECT usage_date, provider, model, raw_models FROM usage_per_model").fetchall()
    by_key = defaultdict(list)
    for day, provider, model, raw_models in rows:
        by_key[(day, provider, model)].append(raw_models)
    for key in merged_keys:
        (raw_models,) = by_key[key]  # exactly one row, holding both raw spellings
        assert len({raw.split(" / ")[0] for raw in raw_models}) == len(forms[key])
