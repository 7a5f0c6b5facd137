"""The aggregate modes, one row each: the table a mode fills, its keys, and whether API_Meter gets it.

Every front end (jobs, export, checks) reads this table; a new aggregate is one more row (and its SQL).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

AggregateMode = Literal["per_model", "per_user", "per_app", "workspace"]


@dataclass(frozen=True, slots=True)
class AggregateModeRow:
    mode: AggregateMode
    table: str  # also the Dagster asset name
    key_columns: tuple[str, ...]  # one row per these in the table
    preview_columns: tuple[str, ...]  # what a person wants to see first: the key without the currency
    delivered: bool  # sent to API_Meter
    title: str  # of the mode's table at the end of `dify-meter export`
    phase: str  # what `dify-meter export` says while the asset runs
    # (header, SQL) of the columns `dify-meter export` sums over days; an app shows its latest name and mode
    summary_columns: tuple[tuple[str, str], ...]


AGGREGATE_MODES = (
    AggregateModeRow(
        "per_model",
        "usage_per_model",
        ("usage_date", "provider", "model"),
        ("usage_date", "provider", "model"),
        delivered=True,
        title="Usage per model",
        phase="aggregating per model",
        summary_columns=(("provider", "provider"), ("model", "model")),
    ),
    AggregateModeRow(
        "per_user",
        "usage_per_user",
        ("usage_date", "user_type", "user_id", "currency"),
        ("usage_date", "user_type", "user_id"),
        delivered=False,
        title="Usage per user",
        phase="aggregating per user",
        summary_columns=(("user type", "user_type"), ("user", "user_id")),
    ),
    AggregateModeRow(
        "per_app",
        "usage_per_app",
        ("usage_date", "app_id", "currency"),
        ("usage_date", "app_name", "app_mode"),
        delivered=False,
        title="Usage per app",
        phase="aggregating per app",
        summary_columns=(
            ("app", "arg_max(app_name, usage_date)"),
            ("mode", "arg_max(app_mode, usage_date)"),
            ("app id", "app_id"),
        ),
    ),
    AggregateModeRow(
        "workspace",
        "usage_workspace",
        ("usage_date", "currency"),
        ("usage_date",),
        delivered=False,
        title="Usage of the workspace",
        phase="aggregating the workspace",
        summary_columns=(),
    ),
)

BY_MODE: dict[str, AggregateModeRow] = {row.mode: row for row in AGGREGATE_MODES}

AGGREGATE_TABLES: dict[str, str] = {row.mode: row.table for row in AGGREGATE_MODES}
KEY_COLUMNS: dict[str, tuple[str, ...]] = {row.mode: row.key_columns for row in AGGREGATE_MODES}
PREVIEW_COLUMNS: dict[str, tuple[str, ...]] = {row.mode: row.preview_columns for row in AGGREGATE_MODES}
DELIVERED_MODES = frozenset(row.mode for row in AGGREGATE_MODES if row.delivered)
