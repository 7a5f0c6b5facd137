"""Every aggregate equals the simulator's ground truth, grouped here in plain Python (not SQL)."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta

import pytest

from dify_meter.core.store import DuckDBStore
from dify_meter.sandbox.dify.generate import generate_workspace
from dify_meter.sandbox.dify.server import DifySimulator
from dify_meter.usage.aggregate_modes import AGGREGATE_TABLES
from dify_meter.usage.aggregates import rebuild_aggregate
from dify_meter_tests.support.aggregates import NORMALIZER, actual, expected
from dify_meter_tests.support.events import day_window
from dify_meter_tests.support.settings import refresh_raw, settings_for

pytestmark = pytest.mark.integration


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
        refresh_raw(settings, store, start, end)
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
        refresh_raw(settings_for(simulator, store, "UTC"), store, start, end)
    with store.connect() as conn:
        rebuild_aggregate(conn, "per_model", first, last, NORMALIZER)
        rows = conn.execute("SELECT usage_date, provider, model, raw_models FROM usage_per_model").fetchall()
    by_key = defaultdict(list)
    for day, provider, model, raw_models in rows:
        by_key[(day, provider, model)].append(raw_models)
    for key in merged_keys:
        (raw_models,) = by_key[key]  # exactly one row, holding both raw spellings
        assert len({raw.split(" / ")[0] for raw in raw_models}) == len(forms[key])
