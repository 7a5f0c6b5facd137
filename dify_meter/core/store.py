"""The one way to open the DuckDB file, and the one place that applies its schema.

DuckDB allows one writing process per file (see docs/dagster-notes.md): connections here are
short, never held across HTTP calls, and a lock held by another process is waited for a bounded
time, then reported as an error that says what to do.
"""

from __future__ import annotations

import functools
import hashlib
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from dify_meter.usage.rollups import create_rollup_views

SQL_DIR = Path(__file__).parents[1] / "usage" / "sql"


class StoreError(RuntimeError):
    """The DuckDB file cannot be used; the message says why and what to do."""


class StoreLockedError(StoreError):
    """Another process holds the DuckDB file."""


def read_sql(name: str) -> str:
    """The text of `dify_meter/usage/sql/<name>`."""
    return (SQL_DIR / name).read_text(encoding="utf-8")


@functools.cache
def _schema_statements() -> list[str]:
    return [path.read_text(encoding="utf-8") for path in sorted((SQL_DIR / "schema").glob("*.sql"))]


@functools.cache
def _schema_version() -> str:
    texts = [*_schema_statements(), read_sql("rollup_view.sql")]
    return hashlib.sha256("\n".join(texts).encode("utf-8")).hexdigest()[:16]


def _ensure_schema(conn: duckdb.DuckDBPyConnection) -> None:
    """Apply the schema unless this file already has this version of it (applying costs ~10 ms, and a
    run opens many short connections)."""
    version = _schema_version()
    try:
        row = conn.execute("SELECT version FROM dify_meter_schema").fetchone()
    except duckdb.CatalogException:
        row = None
    if row and row[0] == version:
        return
    for statement in _schema_statements():
        conn.execute(statement)
    create_rollup_views(conn, read_sql("rollup_view.sql"))
    conn.execute("CREATE OR REPLACE TABLE dify_meter_schema AS SELECT ? AS version", [version])


def _is_lock_error(exc: duckdb.Error) -> bool:
    return "lock" in str(exc).lower()


class DuckDBStore:
    """A DuckDB file with the project's schema. Cheap to create; opens connections on demand."""

    def __init__(self, path: str | Path, *, lock_wait_seconds: float = 60.0) -> None:
        self.path = Path(path)
        self.lock_wait_seconds = lock_wait_seconds

    def __repr__(self) -> str:
        return f"DuckDBStore({str(self.path)!r})"

    def _open(self, *, read_only: bool, wait_seconds: float) -> duckdb.DuckDBPyConnection:
        deadline = time.monotonic() + wait_seconds
        delay = 0.05
        while True:
            try:
                conn = duckdb.connect(str(self.path), read_only=read_only)
                # TIMESTAMPTZ values come back in the session zone: make it UTC, never the machine's.
                conn.execute("SET TimeZone = 'UTC'")
                return conn
            except duckdb.IOException as exc:
                if not _is_lock_error(exc):
                    raise StoreError(
                        f"cannot open DuckDB file {self.path}: {exc}. Check DIFY_METER_DUCKDB, the "
                        "directory's permissions and free disk space."
                    ) from exc
                if time.monotonic() >= deadline:
                    raise StoreLockedError(
                        f"DuckDB file {self.path} is locked by another process (waited {wait_seconds:.0f} s). "
                        "Only one process may write it at a time: wait for the running Dagster run or "
                        "dify-meter command to finish, then retry."
                    ) from exc
                time.sleep(delay)
                delay = min(delay * 2, 1.0)

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A short write connection with the schema applied."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the folder of DuckDB file {self.path}: {exc}") from exc
        conn = self._open(read_only=False, wait_seconds=self.lock_wait_seconds)
        try:
            _ensure_schema(conn)
            yield conn
        finally:
            conn.close()

    @contextmanager
    def connect_read_only(self, *, wait_seconds: float = 0.0) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-only connection; raises StoreLockedError at once (or after wait_seconds) if locked."""
        if not self.path.exists():
            raise StoreError(f"DuckDB file {self.path} does not exist yet: materialize raw_usage_events first")
        conn = self._open(read_only=True, wait_seconds=wait_seconds)
        try:
            yield conn
        finally:
            conn.close()


@contextmanager
def transaction(conn: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """BEGIN … COMMIT, or ROLLBACK on any error, so a failed write leaves the previous rows."""
    conn.execute("BEGIN TRANSACTION")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
