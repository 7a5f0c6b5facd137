from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from dify_meter_tests.support.postgres import EmbeddedPostgres


@pytest.fixture(scope="session")
def postgres() -> Iterator[EmbeddedPostgres]:
    # Not under pytest's tmp_path root: pytest keeps that 0700, and the server runs as another user when root.
    root = Path(tempfile.mkdtemp(prefix="dify-meter-postgres-"))
    server = EmbeddedPostgres(root).start()
    yield server
    server.stop()
    shutil.rmtree(root, ignore_errors=True)
