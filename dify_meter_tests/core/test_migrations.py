"""The store's numbered migrations: a file made before them (committed DDL + CSV rows in
data/store_v0/) keeps every row; fresh, current, newer and failing cases."""

from __future__ import annotations

import shutil
from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from dify_meter.core.store import MIGRATIONS_DIR, DuckDBStore, StoreError, migrations
from dify_meter.usage.raw_events import replace_window, summarize_window
from dify_meter_tests.support.events import make_event

STORE_V0 = Path(__file__).parent / "data" / "store_v0"
V0_TABLES = sorted(path.stem for path in STORE_V0.glob("*.csv"))
LATEST = len(migrations())


def build_store_v0(path: Path) -> None:
    """A DuckDB file as the hash-checked schema left it: today's tables, its hash table, a few rows."""
    conn = duckdb.connect(str(path))
    conn.execute("SET TimeZone = 'UTC'")
    conn.execute((STORE_V0 / "schema.sql").read_text(encoding="utf-8"))
    conn.execute("CREATE TABLE dify_meter_schema AS SELECT '0123456789abcdef' AS version")
    for table in V0_TABLES:
        conn.execute(f"COPY {table} FROM '{STORE_V0 / table}.csv' (HEADER)")
    conn.close()


# Columns that later migrations added, with the value each gives the rows stored before it.
ADDED_COLUMNS = {
    "raw_usage_events": {"read_from": "console", "price_source": None, "invoke_from": None, "triggered_from": None},
}


def all_rows(path: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every row of the v0 tables, in the v0 columns (any column a migration added is checked apart)."""
    v0 = duckdb.connect()
    v0.execute((STORE_V0 / "schema.sql").read_text(encoding="utf-8"))
    v0_columns = {
        table: [row[0] for row in v0.execute(f"SELECT * FROM {table} LIMIT 0").description]  # type: ignore[union-attr]
        for table in V0_TABLES
    }
    v0.close()
    conn = duckdb.connect(str(path), read_only=True)
    conn.execute("SET TimeZone = 'UTC'")
    rows = {
        table: conn.execute(f"SELECT {', '.join(v0_columns[table])} FROM {table} ORDER BY ALL").fetchall()
        for table in V0_TABLES
    }
    conn.close()
    return rows


def added_values(path: Path) -> dict[str, set[tuple[object, ...]]]:
    conn = duckdb.connect(str(path), read_only=True)
    values = {
        table: set(conn.execute(f"SELECT DISTINCT {', '.join(columns)} FROM {table}").fetchall())
        for table, columns in ADDED_COLUMNS.items()
    }
    conn.close()
    return values


def stored_version(store: DuckDBStore) -> int:
    with store.connect_read_only() as conn:
        row = conn.execute("SELECT version FROM dify_meter_schema_version").fetchone()
    assert row is not None
    return int(row[0])


def test_a_file_made_before_migrations_keeps_every_row_and_works(tmp_path):
    path = tmp_path / "v0.duckdb"
    build_store_v0(path)
    before = all_rows(path)
    assert all(len(rows) >= 3 for rows in before.values()), before.keys()
    assert {
        "raw_usage_events",
        "api_meter_ledger",
        "api_meter_spool",
        "usage_per_model",
        "dify_conversation_details",
        "dify_finished_runs",
    } <= set(before)

    store = DuckDBStore(path)
    day = date(2026, 12, 1)
    with store.connect() as conn:
        tables = {row[0] for row in conn.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        assert "dify_meter_schema" not in tables
        replace_window(conn, day, day, [make_event("after-migration", day)])
        summary = summarize_window(conn, day, day)
        weekly = conn.execute("SELECT count(*) FROM usage_per_model_weekly").fetchone()
    assert summary.events == 1 and summary.cost_by_currency == {"USD": Decimal("0.0012345")}
    assert weekly is not None and weekly[0] > 0
    assert stored_version(store) == LATEST

    after = all_rows(path)
    after["raw_usage_events"] = [row for row in after["raw_usage_events"] if row[0] != "after-migration"]
    assert after == before
    assert added_values(path) == {table: {tuple(added.values())} for table, added in ADDED_COLUMNS.items()}


def test_a_fresh_file_gets_every_table_and_view(tmp_path):
    store = DuckDBStore(tmp_path / "fresh.duckdb")
    with store.connect() as conn:
        names = {row[0] for row in conn.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        views = {row[0] for row in conn.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}
    assert set(V0_TABLES) <= names
    assert {"usage_per_model_weekly", "usage_workspace_monthly"} <= views
    assert stored_version(store) == LATEST


def test_a_current_file_is_not_migrated_again(tmp_path):
    store = DuckDBStore(tmp_path / "current.duckdb")
    with store.connect() as conn:
        # A current file must cost one query: dropping a view proves nothing re-creates it.
        conn.execute("DROP VIEW usage_per_model_weekly")
    with store.connect() as conn:
        views = {row[0] for row in conn.execute("SELECT view_name FROM duckdb_views()").fetchall()}
    assert "usage_per_model_weekly" not in views


def test_a_file_newer_than_the_code_is_refused(tmp_path):
    store = DuckDBStore(tmp_path / "newer.duckdb")
    with store.connect() as conn:
        conn.execute("UPDATE dify_meter_schema_version SET version = ?", [LATEST + 1])
    refused = f"schema version {LATEST + 1}, newer .*Upgrade dify-meter"
    with pytest.raises(StoreError, match=refused), store.connect():
        pass


def with_migration(tmp_path: Path, name: str, sql: str) -> Path:
    directory = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, directory)
    (directory / name).write_text(sql, encoding="utf-8")
    return directory


def raw_columns(store: DuckDBStore) -> set[str]:
    with store.connect_read_only() as conn:
        rows = conn.execute("SELECT column_name FROM duckdb_columns() WHERE table_name = 'raw_usage_events'").fetchall()
    return {row[0] for row in rows}


def test_a_failing_migration_leaves_the_file_at_its_previous_version(tmp_path):
    path = tmp_path / "m.duckdb"
    with DuckDBStore(path).connect() as conn:
        replace_window(conn, date(2026, 12, 1), date(2026, 12, 1), [make_event("kept", date(2026, 12, 1))])
    broken = with_migration(
        tmp_path,
        f"{LATEST + 1:04d}_note.sql",
        "ALTER TABLE raw_usage_events ADD COLUMN note VARCHAR;\nSELECT * FROM no_such_table;\n",
    )
    store = DuckDBStore(path, migrations_dir=broken)
    failed = f"(?s)to schema version {LATEST + 1} failed.*unchanged at version {LATEST}"
    with pytest.raises(StoreError, match=failed), store.connect():
        pass
    assert stored_version(store) == LATEST
    assert "note" not in raw_columns(store)
    assert all_rows(path)["raw_usage_events"][0][0] == "kept"


def test_a_new_column_is_one_migration_file(tmp_path):
    path = tmp_path / "v0.duckdb"
    build_store_v0(path)
    before = all_rows(path)["raw_usage_events"]
    added = with_migration(
        tmp_path, f"{LATEST + 1:04d}_note.sql", "ALTER TABLE raw_usage_events ADD COLUMN note VARCHAR;\n"
    )
    store = DuckDBStore(path, migrations_dir=added)
    with store.connect():
        pass
    assert stored_version(store) == LATEST + 1
    assert "note" in raw_columns(store)
    assert all_rows(path)["raw_usage_events"] == before
