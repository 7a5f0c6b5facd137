from __future__ import annotations

from datetime import date

import dagster as dg
import pytest

from dify_meter.core.store import DuckDBStore
from dify_meter.definitions import defs as load_defs
from dify_meter.usage.raw_events import replace_window
from dify_meter_tests.support.events import make_event
from dify_meter_tests.support.settings import resources_on

DAY = date(2026, 11, 10)
# The assets as the code location builds them (one factory, settings read once).
_BUILT = load_defs()
usage_per_model, usage_workspace = (_BUILT.get_assets_def(key) for key in ("usage_per_model", "usage_workspace"))
AGGREGATES = ["usage_per_model", "usage_per_user", "usage_per_app", "usage_workspace"]


@pytest.fixture(scope="module")
def defs() -> dg.Definitions:
    return load_defs()


def test_definitions_load_with_every_asset_and_check(defs):
    dg.Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    assert {key.to_user_string() for key in graph.get_all_asset_keys()} == {
        "raw_usage_events",
        *AGGREGATES,
        "api_meter_sent",
    }
    assert defs.resolve_job_def("daily_usage_job") and defs.resolve_job_def("api_meter_replay_job")
    assert defs.resolve_schedule_def("daily_usage_schedule").job_name == "daily_usage_job"
    assert defs.resolve_sensor_def("spool_replay_sensor").job_name == "api_meter_replay_job"
    checks = {(key.asset_key.to_user_string(), key.name) for key in graph.asset_check_keys}
    assert ("usage_per_model", "normalization") in checks
    for asset in AGGREGATES:
        assert {(asset, "conservation"), (asset, "key_uniqueness"), (asset, "token_arithmetic")} <= checks


def test_every_asset_is_documented_grouped_and_daily(defs):
    for node in defs.resolve_asset_graph().asset_nodes:
        assert node.description and node.group_name and node.kinds, node.key
        assert isinstance(node.partitions_def, dg.DailyPartitionsDefinition), node.key
        assert node.backfill_policy == dg.BackfillPolicy.single_run(), node.key
        assert defs.resolve_assets_def(node.key).op.pool == "duckdb", node.key


def test_aggregates_materialize_with_passing_checks(tmp_path):
    store = DuckDBStore(tmp_path / "m.duckdb")
    with store.connect() as conn:
        replace_window(
            conn,
            DAY,
            DAY,
            [
                make_event("a", DAY),
                make_event("b", DAY, provider_raw="langgenius/openai/openai"),
            ],
        )
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [usage_per_model, usage_workspace],
            resources=resources_on(store.path),
            partition_key=DAY.isoformat(),
            instance=instance,
        )
    assert result.success
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert all(evaluations[name].passed for name in ("conservation", "key_uniqueness", "normalization"))
    metadata = result.asset_materializations_for_node("usage_per_model")[0].metadata
    assert metadata["rows"].value == 1 and metadata["total_tokens"].value == 240
    assert metadata["cost_USD"].value == "0.002469"


def test_a_failing_blocking_check_stops_downstream_assets(tmp_path):
    store = DuckDBStore(tmp_path / "m.duckdb")
    with store.connect() as conn:
        replace_window(conn, DAY, DAY, [make_event("a", DAY)])
        conn.execute("UPDATE raw_usage_events SET total_tokens = total_tokens + 1")  # Dify sent bad arithmetic

    @dg.asset(
        deps=[usage_per_model],
        partitions_def=usage_per_model.partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
    )
    def downstream_of_per_model() -> None:
        raise AssertionError("must not run after a failing blocking check")

    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [usage_per_model, downstream_of_per_model],
            resources=resources_on(store.path),
            partition_key=DAY.isoformat(),
            instance=instance,
            raise_on_error=False,
        )
    failed = {e.check_name for e in result.get_asset_check_evaluations() if not e.passed}
    assert "token_arithmetic" in failed
    assert not result.asset_materializations_for_node("downstream_of_per_model")
