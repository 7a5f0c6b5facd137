"""The one way to open the DuckDB file, and the one place that migrates its schema (core/migrations/).

DuckDB allows one writing process per file (see docs/dagster-notes.md): connections here are
short, never held across HTTP calls, and a lock held by another process is waited for a bounded
time, then reported as an error that says what to do.
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


class StoreError(RuntimeError):
    """The DuckDB file cannot be used; the message says why and what to do."""


class StoreLockedError(StoreError):
    """Another process holds the DuckDB file."""


@functools.cache
def migrations(directory: Path = MIGRATIONS_DIR) -> tuple[tuple[int, str], ...]:
    """(version, SQL text) of every migration file in `directory`, in order; versions must be 1, 2, 3, …"""
    found = sorted(
        (int(match.group(1)), path) for path in directory.glob("*.sql") if (match := _MIGRATION_NAME.match(path.name))
    )
    versions = [version for version, _ in found]
    if versions != list(range(1, len(found) + 1)):
        raise StoreError(f"migrations in {directory} must be numbered 0001, 0002, … without gaps: {versions}")
    return tuple((version, path.read_text(encoding="utf-8")) for version, path in found)


def _stored_version(conn: duckdb.DuckDBPyConnection) -> int:
    """The file's schema version: 0 for a new file or one made by the hash-checked schema (its
    `dify_meter_schema` table), whose tables the idempotent baseline leaves as they are."""
    try:
        row = conn.execute("SELECT version FROM dify_meter_schema_version").fetchone()
    except duckdb.CatalogException:
        return 0
    return int(row[0]) if row else 0


def _ensure_schema(conn: duckdb.DuckDBPyConnection, path: Path, migrations_dir: Path) -> None:
    """Bring the file to the code's version, one migration per transaction; a current file costs one
    query (a run opens many short connections)."""
    known = migrations(migrations_dir)
    current = _stored_version(conn)
    if current == len(known):
        return
    if current > len(known):
        raise StoreError(
            f"DuckDB file {path} has schema version {current}, newer than this dify-meter knows "
            f"({len(known)}): it was written by a newer release. Upgrade dify-meter, or point "
            "DIFY_METER_DUCKDB at another file."
        )
    for version, sql in known[current:]:
        conn.execute("BEGIN TRANSACTION")
        try:
            conn.execute(sql)
            conn.execute("CREATE TABLE IF NOT EXISTS dify_meter_schema_version (version INTEGER NOT NULL)")
            conn.execute("DELETE FROM dify_meter_schema_version")
            conn.execute("INSERT INTO dify_meter_schema_version VALUES (?)", [version])
            if version == 1:
                conn.execute("DROP TABLE IF EXISTS dify_meter_schema")
        except BaseException as exc:
            conn.execute("ROLLBACK")
            raise StoreError(
                f"migrating DuckDB file {path} to schema version {version} failed: {exc}. The file is "
                f"unchanged at version {current}; restore a backup or report the error."
            ) from exc
        conn.execute("COMMIT")
        current = version


def _is_lock_error(exc: duckdb.Error) -> bool:
    return "lock" in str(exc).lower()


class DuckDBStore:
    """A DuckDB file with the project's schema. Cheap to create; opens connections on demand."""

    def __init__(
        self, path: str | Path, *, lock_wait_seconds: float = 60.0, migrations_dir: Path = MIGRATIONS_DIR
    ) -> None:
        self.path = Path(path)
        self.lock_wait_seconds = lock_wait_seconds
        self.migrations_dir = migrations_dir

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
            _ensure_schema(conn, self.path, self.migrations_dir)
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
