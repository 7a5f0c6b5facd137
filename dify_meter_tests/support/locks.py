"""A second process holding a DuckDB file's write lock, as a running materialization would."""

from __future__ import annotations

import duckdb


def hold_write_lock(path: str, ready, release) -> None:
    conn = duckdb.connect(path)
    ready.set()
    release.wait(30)
    conn.close()
