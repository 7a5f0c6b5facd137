"""What the Dagster UI shows of each DuckDB table: its name, its columns (read from the migrations, so they
cannot drift from the file) and, for the aggregates, which raw_usage_events columns each column comes from."""

from __future__ import annotations

from functools import cache
from typing import Any

import dagster as dg
import duckdb

from dify_meter.core.store import migrations

RAW = dg.AssetKey("raw_usage_events")
# Aggregate columns computed from raw columns of another name; same-named columns come from their namesake.
DERIVED_FROM = {
    "provider": ("provider_raw",),
    "model": ("model_raw",),
    "publisher": ("provider_raw", "model_raw"),
    "raw_models": ("model_raw",),
    "request_count": ("event_id",),
    "unpriced_events": ("priced",),
    "approximate_events": ("approximate",),
    "currency_conflict": ("currency", "priced"),
}


@cache
def _columns() -> dict[str, tuple[tuple[str, str], ...]]:
    with duckdb.connect(":memory:") as conn:
        for _, sql in migrations():
            conn.execute(sql)
        rows = conn.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "ORDER BY table_name, ordinal_position"
        ).fetchall()
    columns: dict[str, list[tuple[str, str]]] = {}
    for table, column, data_type in rows:
        columns.setdefault(table, []).append((column, data_type))
    return {table: tuple(found) for table, found in columns.items()}


def table_definition_metadata(table: str) -> dict[str, Any]:
    return {
        "dagster/table_name": f"main.{table}",
        "dagster/column_schema": dg.TableSchema(
            columns=[dg.TableColumn(name, data_type) for name, data_type in _columns()[table]]
        ),
    }


def column_lineage_from_raw(table: str) -> dg.TableColumnLineage:
    raw_columns = {name for name, _ in _columns()["raw_usage_events"]}
    deps: dict[str, list[dg.TableColumnDep]] = {}
    for name, _ in _columns()[table]:
        sources = DERIVED_FROM.get(name, (name,) if name in raw_columns else ())
        if sources:
            deps[name] = [dg.TableColumnDep(asset_key=RAW, column_name=source) for source in sources]
    return dg.TableColumnLineage(deps_by_column=deps)
