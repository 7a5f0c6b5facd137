"""A full disk under the DuckDB file, simulated with a small tmpfs that is filled up: the export stops with a
message that says so, the day's previous rows survive, and once space is freed the next export is exact."""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from dify_meter.cli.main import main
from dify_meter.core.store import DuckDBStore
from dify_meter.sandbox.api_meter.server import ApiMeterServer
from dify_meter.sandbox.dify.changes import add_workflow_runs
from dify_meter.sandbox.dify.generate import generate_workspace
from dify_meter.sandbox.dify.server import DifySimulator
from dify_meter_tests.support.resilience import (
    MeterSetup,
    api_meter_holds,
    api_meter_truth,
    assert_duckdb_holds,
    export_args,
    truth,
)

pytestmark = [pytest.mark.resilience, pytest.mark.e2e]
DAY = date(2026, 6, 3)
DISK_SIZE = "16m"


@pytest.fixture
def small_disk(tmp_path) -> Iterator[Path]:
    """A tmpfs of DISK_SIZE mounted for this test only (needs root), unmounted afterwards."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if os.geteuid() != 0:
        pytest.skip("a full disk is simulated with a mounted tmpfs, which needs root")
    try:
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={DISK_SIZE}", "tmpfs", str(disk)],
            check=True,
            capture_output=True,
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        pytest.skip(f"a full disk is simulated with a mounted tmpfs, and mounting one is not permitted here ({exc})")
    try:
        yield disk
    finally:
        subprocess.run(["umount", str(disk)], check=True, capture_output=True, timeout=30)


def fill(disk: Path) -> Path:
    """Write zeros to a file on `disk` until the disk is full; the file."""
    filler = disk / "filler"
    block = bytes(64 * 1024)
    with filler.open("wb", buffering=0) as out:
        try:
            while True:
                out.write(block)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc
    return filler


def test_a_full_disk_stops_the_export_clearly_and_keeps_the_previous_rows(small_disk, tmp_path, monkeypatch, capsys):
    workspace = generate_workspace(seed=21, start_date=DAY - timedelta(days=1), days=3)
    store = DuckDBStore(small_disk / "m.duckdb")
    with DifySimulator(workspace) as dify, ApiMeterServer() as api_meter:
        MeterSetup(tmp_path, dify, api_meter).apply(monkeypatch, DIFY_METER_DUCKDB=str(store.path))
        assert main(export_args(DAY, DAY)) == 0
        before = truth(workspace, DAY, DAY)
        assert_duckdb_holds(store, before)
        app = next(
            a
            for a in workspace.apps.values()
            if a.mode == "workflow"
            and a.status == "normal"
            and any(workspace.log_of_run(run.id) for run in workspace.runs_of(a.id))
        )
        add_workflow_runs(workspace, app.id, [datetime(2026, 6, 3, hour, tzinfo=UTC) for hour in range(8, 20)])
        capsys.readouterr()

        filler = fill(small_disk)
        code = main(export_args(DAY, DAY))
        captured = capsys.readouterr()
        assert code == 1, captured.out + captured.err
        assert (
            f"raw_usage_events: _duckdb.TransactionException: TransactionContext Error: Failed to commit: Could "
            f'not write file "{store.path}.wal": No space left on device' in captured.err
        )
        assert "is incomplete, it could not be written: No space left on device." in captured.err  # the run log
        assert "Traceback" not in captured.out + captured.err
        filler.unlink()
        assert_duckdb_holds(store, before)  # the failed write left the previous rows as they were

        assert main(export_args(DAY, DAY)) == 0
        after = truth(workspace, DAY, DAY)
        assert len(after) > len(before)
        assert_duckdb_holds(store, after)
        assert api_meter_holds(api_meter) == api_meter_truth(after)
