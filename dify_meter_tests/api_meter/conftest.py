from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from dify_meter.api_meter.sender import ApiMeterSender
from dify_meter.core.store import DuckDBStore
from dify_meter.sandbox.api_meter.server import ApiMeterServer
from dify_meter_tests.support.api_meter_samples import TENANT_ID, TOKEN


@pytest.fixture
def meter(tmp_path: Path) -> Iterator[ApiMeterServer]:
    with ApiMeterServer(token=TOKEN, tenant_id=TENANT_ID, store_path=tmp_path / "api_meter.sqlite") as server:
        yield server


@pytest.fixture
def sleeps() -> list[float]:
    """What the sender would have slept, in order; the tests never wait."""
    return []


@pytest.fixture
def make_sender(meter: ApiMeterServer, sleeps: list[float]) -> Callable[..., ApiMeterSender]:
    def make(**overrides: Any) -> ApiMeterSender:
        options: dict[str, Any] = {
            "url": meter.base_url,
            "token": TOKEN,
            "tenant_id": TENANT_ID,
            "exporter_version": "0.1.0-test",
            "sleep": sleeps.append,
            "timeout": 5.0,
        }
        options.update(overrides)
        return ApiMeterSender(options.pop("url"), options.pop("token"), options.pop("tenant_id"), **options)

    return make


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    with DuckDBStore(tmp_path / "dify_meter.duckdb").connect() as connection:
        yield connection
