"""A 3-day range in one run: each partition's one materialization carries that day's own figures."""

from __future__ import annotations

from decimal import Decimal

import dagster as dg
import pytest

from dify_meter.definitions import defs as load_defs
from dify_meter_tests.support.demo_run import ALL_ASSETS

pytestmark = pytest.mark.integration
TABLE_ASSETS = ["raw_usage_events", "usage_per_model", "usage_per_user", "usage_per_app", "usage_workspace"]


def materializations(demo_run, asset: str) -> dict[str, dict]:
    records = demo_run.instance.fetch_materializations(dg.AssetKey(asset), limit=100).records
    ours = [r.asset_materialization for r in records if r.run_id == demo_run.result.run_id]
    partitions = [m.partition for m in ours if m]
    assert sorted(partitions) == [day.isoformat() for day in demo_run.days()], (asset, partitions)  # one each
    return {m.partition: {k: v.value for k, v in m.metadata.items()} for m in ours if m and m.partition}


@pytest.mark.parametrize("asset", TABLE_ASSETS)
def test_each_partition_carries_its_own_days_sums(demo_run, asset):
    assert demo_run.result.success
    by_day = materializations(demo_run, asset)
    with demo_run.store.connect_read_only() as conn:
        for day in demo_run.days():
            metadata = by_day[day.isoformat()]
            assert "days" not in metadata  # no range-level key on a partition
            rows, tokens = conn.execute(
                f"SELECT count(*), coalesce(sum(total_tokens), 0) FROM {asset} WHERE usage_date = ?", [day]
            ).fetchone()
            assert rows > 0 and metadata["dagster/row_count"] == rows
            assert metadata["total_tokens"] == tokens
            assert metadata["events" if asset == "raw_usage_events" else "rows"] == rows
            cost_sql = (
                "SELECT currency, sum(cost) FROM raw_usage_events WHERE usage_date = ? AND priced GROUP BY 1"
                if asset == "raw_usage_events"
                else f"SELECT currency, sum(cost) FROM {asset} WHERE usage_date = ? GROUP BY 1"
            )
            if asset in ("usage_per_model", "usage_workspace", "raw_usage_events"):
                for currency, cost in conn.execute(cost_sql, [day]).fetchall():
                    if cost:
                        assert Decimal(metadata[f"cost_{currency}"]) == cost, (asset, day, currency)
                        assert metadata[f"cost_{currency}_plot"] == float(cost)


def test_each_delivered_day_says_what_was_sent_for_it(demo_run):
    by_day = materializations(demo_run, "api_meter_sent")
    with demo_run.store.connect_read_only() as conn:
        for day in demo_run.days():
            metadata = by_day[day.isoformat()]
            keys, tokens = conn.execute(
                "SELECT count(*), sum(total_tokens) FROM usage_per_model "
                "WHERE usage_date = ? AND NOT currency_conflict",
                [day],
            ).fetchone()
            assert (metadata["records_sent"], metadata["new_keys"], metadata["total_tokens_sent"]) == (
                keys,
                keys,
                tokens,
            )
            assert metadata["zeroed_keys"] == metadata["unchanged_keys"] == 0
            assert f"**{keys} records to send**" in metadata["plan"]


def test_all_assets_ran_in_one_run(demo_run):
    assert set(ALL_ASSETS) == {
        event.asset_key.to_user_string() for event in demo_run.result.get_asset_materialization_events()
    }


def test_tables_declare_their_name_columns_and_lineage(demo_run):
    built = load_defs()
    with demo_run.store.connect_read_only() as conn:
        for asset in TABLE_ASSETS:
            spec = built.get_assets_def(asset).specs_by_key[dg.AssetKey(asset)]
            assert spec.metadata["dagster/table_name"] == f"main.{asset}"
            declared = [(c.name, c.type) for c in spec.metadata["dagster/column_schema"].columns]
            assert (
                declared
                == conn.execute(
                    "SELECT column_name, data_type FROM information_schema.columns "
                    "WHERE table_name = ? ORDER BY ordinal_position",
                    [asset],
                ).fetchall()
            )
    lineage = materializations(demo_run, "usage_per_model")["2026-11-10"]["dagster/column_lineage"]
    assert [dep.column_name for dep in lineage.deps_by_column["model"]] == ["model_raw"]
    assert [dep.column_name for dep in lineage.deps_by_column["cost"]] == ["cost"]
    assert "built_at" not in lineage.deps_by_column
