"""Normalize → aggregate: rebuild a per-mode daily aggregate from raw_usage_events for a window.

The four modes share one normalized, currency-resolved view of the window (window_ids.sql,
window_keys.sql, window_events.sql); each mode's grouping lives in its own .sql file. A rebuild
deletes and re-inserts the window's rows in one transaction, so the table never holds a half-built
window.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal

import duckdb

from dify_meter.core.bulk_insert import insert_rows
from dify_meter.core.store import transaction
from dify_meter.usage.aggregate_modes import AGGREGATE_TABLES, PREVIEW_COLUMNS, AggregateMode
from dify_meter.usage.normalize import Normalizer
from dify_meter.usage.sql import read_sql


def load_normalized_models(
    conn: duckdb.DuckDBPyConnection, first_day: date, last_day: date, normalizer: Normalizer
) -> int:
    """Fill temp table window_ids with the window's distinct raw ids (window_ids.sql), and temp table
    normalized_models with each raw (provider, model) id normalized in Python."""
    conn.execute(read_sql("window_ids.sql"), {"first_day": first_day, "last_day": last_day})
    pairs = conn.execute("SELECT DISTINCT provider_raw, model_raw FROM window_ids").fetchall()
    conn.execute(
        "CREATE OR REPLACE TEMP TABLE normalized_models "
        "(provider_raw VARCHAR, model_raw VARCHAR, provider VARCHAR, model VARCHAR, publisher VARCHAR)"
    )
    rows = []
    for provider_raw, model_raw in pairs:
        normalized = normalizer.normalize(provider_raw, model_raw)
        rows.append((provider_raw, model_raw, normalized.provider, normalized.model, normalized.publisher))
    if rows:
        insert_rows(conn, "normalized_models", ("provider_raw", "model_raw", "provider", "model", "publisher"), rows)
    return len(rows)


def prepare_window_events(
    conn: duckdb.DuckDBPyConnection, first_day: date, last_day: date, normalizer: Normalizer
) -> None:
    load_normalized_models(conn, first_day, last_day, normalizer)
    conn.execute(read_sql("window_keys.sql"))
    conn.execute(read_sql("window_events.sql"))


@dataclass
class AggregateSummary:
    mode: str
    table: str
    rows: int = 0
    events: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    cost_by_currency: dict[str, Decimal] = field(default_factory=dict)
    unpriced_events: int = 0
    approximate_events: int = 0
    distinct: dict[str, int] = field(default_factory=dict)  # providers, models, users, apps
    preview_columns: tuple[str, ...] = ()
    preview: list[tuple] = field(default_factory=list)  # top rows by tokens


def rebuild_aggregate(
    conn: duckdb.DuckDBPyConnection, mode: AggregateMode, first_day: date, last_day: date, normalizer: Normalizer
) -> AggregateSummary:
    table = AGGREGATE_TABLES[mode]
    with transaction(conn):
        prepare_window_events(conn, first_day, last_day, normalizer)
        conn.execute(f"DELETE FROM {table} WHERE usage_date BETWEEN ? AND ?", [first_day, last_day])
        conn.execute(read_sql(f"aggregate_{mode}.sql"), {"built_at": datetime.now(UTC)})
    return summarize_aggregate(conn, mode, first_day, last_day)


def summarize_aggregate(
    conn: duckdb.DuckDBPyConnection, mode: AggregateMode, first_day: date, last_day: date
) -> AggregateSummary:
    table = AGGREGATE_TABLES[mode]
    window = [first_day, last_day]
    where = "usage_date BETWEEN ? AND ?"
    row = conn.execute(
        "SELECT count(*), coalesce(sum(request_count), 0), coalesce(sum(input_tokens), 0), "
        "coalesce(sum(output_tokens), 0), coalesce(sum(total_tokens), 0), coalesce(sum(unpriced_events), 0), "
        f"coalesce(sum(approximate_events), 0) FROM {table} WHERE {where}",
        window,
    ).fetchone()
    assert row is not None
    summary = AggregateSummary(
        mode=mode,
        table=table,
        rows=row[0],
        events=int(row[1]),
        input_tokens=int(row[2]),
        output_tokens=int(row[3]),
        total_tokens=int(row[4]),
        unpriced_events=int(row[5]),
        approximate_events=int(row[6]),
    )
    summary.cost_by_currency = dict(
        conn.execute(f"SELECT currency, sum(cost) FROM {table} WHERE {where} GROUP BY 1 ORDER BY 1", window).fetchall()
    )
    distinct_columns = {
        "per_model": {"providers": "provider", "models": "provider || '/' || model"},
        "per_user": {"users": "user_type || ':' || user_id"},
        "per_app": {"apps": "app_id"},
        "workspace": {},
    }[mode]
    for label, expression in distinct_columns.items():
        count = conn.execute(f"SELECT count(DISTINCT {expression}) FROM {table} WHERE {where}", window).fetchone()
        summary.distinct[label] = count[0] if count else 0
    summary.preview_columns = (*PREVIEW_COLUMNS[mode], "currency", "request_count", "total_tokens", "cost")
    summary.preview = conn.execute(
        f"SELECT {', '.join(summary.preview_columns)} FROM {table} WHERE {where} "
        "ORDER BY total_tokens DESC, 1, 2 LIMIT 10",
        window,
    ).fetchall()
    return summary
