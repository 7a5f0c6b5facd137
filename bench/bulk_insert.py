"""Bulk-insert techniques into raw_usage_events (core/event.py EVENT_COLUMNS), at 10, 1k and 100k rows.

Run: PYTHONPATH=. python bench/bulk_insert.py. Prints ms per call and the ratio to the fastest; every
technique's rows are checked to sum to the exact Decimal cost. executemany and multi-row VALUES are
row-bound, so they run up to 1k rows only (the script must stay under a minute on a shared machine).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb

from dify_meter.core.bulk_insert import insert_rows
from dify_meter.core.event import EVENT_COLUMNS, UsageEvent
from dify_meter.core.store import DuckDBStore

SIZES = (10, 1_000, 100_000)
ROW_BOUND_LIMIT = 1_000


def events(count: int) -> list[tuple[Any, ...]]:
    day = date(2026, 11, 10)
    base = datetime(2026, 11, 10, tzinfo=UTC)
    rows = []
    for number in range(count):
        event = UsageEvent(
            event_id=f"e{number}",
            source="message",
            usage_date=day,
            occurred_at=base + timedelta(seconds=number),
            app_id="app-1",
            app_name="Support Chat",
            app_mode="chat",
            user_type="end_user",
            user_id=f"u{number % 50}",
            provider_raw="openai",
            model_raw="gpt-4o",
            input_tokens=100,
            output_tokens=20,
            total_tokens=120,
            cost=Decimal("0.0000001") * number + Decimal("1234567.123"),
            currency="USD",
            priced=True,
            approximate=False,
            conversation_id="c1",
            message_id=f"e{number}",
            workflow_run_id=None,
            node_type=None,
        )
        rows.append(tuple(getattr(event, column) for column in EVENT_COLUMNS))
    return rows


def unnest(conn: duckdb.DuckDBPyConnection, rows: Sequence[tuple[Any, ...]]) -> None:
    insert_rows(conn, "raw_usage_events", EVENT_COLUMNS, rows)


def executemany(conn: duckdb.DuckDBPyConnection, rows: Sequence[tuple[Any, ...]]) -> None:
    marks = ", ".join("?" * len(EVENT_COLUMNS))
    conn.executemany(f"INSERT INTO raw_usage_events ({', '.join(EVENT_COLUMNS)}) VALUES ({marks})", list(rows))


def multi_row_values(conn: duckdb.DuckDBPyConnection, rows: Sequence[tuple[Any, ...]]) -> None:
    marks = "(" + ", ".join("?" * len(EVENT_COLUMNS)) + ")"
    for start in range(0, len(rows), 500):
        batch = rows[start : start + 500]
        conn.execute(
            f"INSERT INTO raw_usage_events ({', '.join(EVENT_COLUMNS)}) VALUES " + ", ".join([marks] * len(batch)),
            [value for row in batch for value in row],
        )


TECHNIQUES: dict[str, Callable[[duckdb.DuckDBPyConnection, Sequence[tuple[Any, ...]]], None]] = {
    "unnest per column": unnest,
    "executemany": executemany,
    "multi-row VALUES": multi_row_values,
}


def main() -> None:
    folder = Path(tempfile.mkdtemp())
    cost_index = EVENT_COLUMNS.index("cost")
    for size in SIZES:
        rows = events(size)
        expected = sum((row[cost_index] for row in rows), Decimal(0))
        timings: dict[str, float] = {}
        for name, technique in TECHNIQUES.items():
            if technique is not unnest and size > ROW_BOUND_LIMIT:
                continue
            store = DuckDBStore(folder / f"{name.replace(' ', '_')}_{size}.duckdb")
            with store.connect() as conn:
                started = time.perf_counter()
                technique(conn, rows)
                timings[name] = (time.perf_counter() - started) * 1000
                total = conn.execute("SELECT sum(cost) FROM raw_usage_events").fetchone()
            assert total is not None and total[0] == expected, (name, total, expected)
        fastest = min(timings.values())
        for name, ms in timings.items():
            print(f"{size:>7} rows  {name:<18} {ms:9.1f} ms  x{ms / fastest:6.1f}")


if __name__ == "__main__":
    main()
