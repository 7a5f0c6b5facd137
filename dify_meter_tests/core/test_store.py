"""The DuckDB store's connections: a write lock held by another process is a clear error, not a hang."""

from __future__ import annotations

import multiprocessing

import pytest

from dify_meter.core.store import DuckDBStore, StoreLockedError
from dify_meter_tests.support.locks import hold_write_lock


def test_lock_held_by_another_process_is_a_clear_error(tmp_path):
    path = tmp_path / "m.duckdb"
    with DuckDBStore(path).connect():
        pass
    ctx = multiprocessing.get_context("spawn")
    ready, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=hold_write_lock, args=(str(path), ready, release))
    holder.start()
    try:
        assert ready.wait(30)
        with (
            pytest.raises(StoreLockedError, match="locked by another process"),
            DuckDBStore(path, lock_wait_seconds=0.3).connect(),
        ):
            pass
        with pytest.raises(StoreLockedError), DuckDBStore(path).connect_read_only():
            pass
    finally:
        release.set()
        holder.join(30)
    with DuckDBStore(path).connect_read_only() as conn:
        assert conn.execute("SELECT count(*) FROM raw_usage_events").fetchone() == (0,)
