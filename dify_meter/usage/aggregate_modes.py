"""The aggregate modes, one row each: the table a mode fills, its keys, and whether API_Meter gets it.

Every front end (jobs, export, checks) reads this table; a new aggregate is one more row (and its SQL).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class AggregateModeRow:
    mode: str
    table: str  # also the Dagster asset name
    key_columns: tuple[str, ...]  # one row per these in the table
    preview_columns: tuple[str, ...]  # what a person wants to see first: the key without the currency
    delivered: bool  # sent to API_Meter


AGGREGATE_MODES = (
    AggregateModeRow("per_model", "usage_per_model", ("usage_date", "provider", "model"),
                     ("usage_date", "provider", "model"), delivered=True),
    AggregateModeRow("per_user", "usage_per_user", ("usage_date", "user_type", "user_id", "currency"),
                     ("usage_date", "user_type", "user_id"), delivered=False),
    AggregateModeRow("per_app", "usage_per_app", ("usage_date", "app_id", "currency"),
                     ("usage_date", "app_name", "app_mode"), delivered=False),
    AggregateModeRow("workspace", "usage_workspace", ("usage_date", "currency"), ("usage_date",), delivered=False),
)

AGGREGATE_TABLES: dict[str, str] = {row.mode: row.table for row in AGGREGATE_MODES}
KEY_COLUMNS: dict[str, tuple[str, ...]] = {row.mode: row.key_columns for row in AGGREGATE_MODES}
PREVIEW_COLUMNS: dict[str, tuple[str, ...]] = {row.mode: row.preview_columns for row in AGGREGATE_MODES}
DELIVERED_MODES = frozenset(row.mode for row in AGGREGATE_MODES if row.delivered)
