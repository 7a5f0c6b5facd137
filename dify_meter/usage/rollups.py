"""Weekly and monthly roll-up views of the daily aggregates (DIFY_AGGREGATION_PERIOD), for local
reports; API_Meter always receives daily records."""

from __future__ import annotations

import duckdb

PERIOD_UNITS = {"weekly": "week", "monthly": "month"}

# table -> (key columns besides the period, descriptive columns carried along)
ROLLUP_TABLES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "usage_per_model": (("provider", "model", "currency"), ()),
    "usage_per_user": (("user_type", "user_id", "currency"), ()),
    "usage_per_app": (("app_id", "currency"), ("app_name", "app_mode")),
    "usage_workspace": (("currency",), ()),
}


def rollup_view_name(table: str, period: str) -> str:
    if period not in PERIOD_UNITS or table not in ROLLUP_TABLES:
        raise ValueError(f"no {period} roll-up of {table}")
    return f"{table}_{period}"


def create_rollup_views(conn: duckdb.DuckDBPyConnection, template: str) -> None:
    for table, (keys, attributes) in ROLLUP_TABLES.items():
        for period, unit in PERIOD_UNITS.items():
            conn.execute(
                template.format(
                    table=table, period=period, unit=unit, keys=", ".join(keys),
                    attributes="".join(f"\n       max({column}) AS {column}," for column in attributes),
                )
            )
