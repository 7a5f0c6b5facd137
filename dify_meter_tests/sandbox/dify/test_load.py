"""A slow and a busy Dify: latency before every answer, and at most `max_parallel` requests handled at once.

Concurrency is proven with a gauge and a barrier, never with timings: a barrier of N inside the handler
only opens when N requests are handled at the same moment.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from dify_meter.sandbox.dify.fixture_workspace import fixture_workspace
from dify_meter.sandbox.dify.server import DifySimulator
from dify_meter.sandbox.loopback import Request
from dify_meter_tests.support.fixture_files import SEED_FILE

pytestmark = pytest.mark.integration


def _get_all(dify: DifySimulator, count: int) -> list[int]:
    url = f"{dify.base_url}/console/api/apps"
    with ThreadPoolExecutor(count) as pool:  # one connection per thread: httpx.get opens its own
        return list(
            pool.map(lambda _: httpx.get(url, headers=dify.auth_headers(), timeout=10).status_code, range(count))
        )


def _meet(parties: int) -> threading.Barrier:
    return threading.Barrier(parties, timeout=5)


def _wait_then_pass(barrier: threading.Barrier) -> Callable[[Request], None]:
    def intercept(request: Request) -> None:
        barrier.wait()  # then None: Dify answers

    return intercept


def test_every_request_waits_the_latency() -> None:
    with (
        DifySimulator(fixture_workspace(SEED_FILE), latency_ms=30) as dify,
        httpx.Client(headers=dify.auth_headers()) as http,
    ):
        for path in ("/console/api/apps", "/console/api/setup", "/console/api/no-such-path"):
            started = time.perf_counter()
            http.get(dify.base_url + path)
            assert time.perf_counter() - started >= 0.030


def test_without_a_limit_requests_are_handled_together() -> None:
    with DifySimulator(fixture_workspace(SEED_FILE)) as dify:
        dify.intercept(_wait_then_pass(_meet(4)))
        statuses = _get_all(dify, 4)
    assert statuses == [200] * 4 and dify.errors == []
    assert dify.peak_concurrency == 4


def test_max_parallel_bounds_the_requests_handled_at_once() -> None:
    with DifySimulator(fixture_workspace(SEED_FILE), max_parallel=2) as dify:
        dify.intercept(_wait_then_pass(_meet(2)))  # opens only when two are inside: the limit lets two in
        statuses = _get_all(dify, 6)
    assert statuses == [200] * 6 and dify.errors == []
    assert dify.peak_concurrency == 2


def test_max_parallel_1_serves_one_request_at_a_time() -> None:
    with DifySimulator(fixture_workspace(SEED_FILE), max_parallel=1, latency_ms=5) as dify:
        statuses = _get_all(dify, 6)
    assert statuses == [200] * 6 and len(dify.request_log) == 6
    assert dify.peak_concurrency == 1


def test_max_parallel_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_parallel"):
        DifySimulator(fixture_workspace(SEED_FILE), max_parallel=0)
