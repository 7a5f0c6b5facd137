"""Requests in flight stay within DIFY_MAX_CONCURRENCY, and within less while Dify pushes back (AIMD)."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from dify_meter.core.retry import DIFY_CONSOLE_RETRY
from dify_meter.sandbox.dify.generate import generate_workspace
from dify_meter.sandbox.dify.server import DifySimulator
from dify_meter.sources.console.client import DifyClient
from dify_meter.sources.console.concurrency import AdaptiveConcurrency
from dify_meter.sources.console.parallel import parallel_map
from dify_meter_tests.support.console import FetchedEvents, assert_same_events, fetch_events
from dify_meter_tests.support.script_server import Answer, ScriptServer, Seen, json_answer

PROFILE = {"id": "u1", "name": "Owner", "email": "owner@example.com", "timezone": "UTC"}


def test_pushback_halves_the_limit_once_per_burst_down_to_one() -> None:
    limiter = AdaptiveConcurrency(8)
    with limiter.slot() as first, limiter.slot() as second:
        limiter.pushed_back(first)
        limiter.pushed_back(second)  # in flight before the halving: the same burst
    assert limiter.limit == 4
    for expected in (2, 1, 1):
        with limiter.slot() as slot:
            limiter.pushed_back(slot)
        assert limiter.limit == expected
    assert limiter.lowest_limit == 1


def test_successes_raise_the_limit_by_one_per_limit_successes_up_to_the_maximum() -> None:
    limiter = AdaptiveConcurrency(4)
    with limiter.slot() as slot:
        limiter.pushed_back(slot)
    with limiter.slot() as slot:
        limiter.pushed_back(slot)
    assert limiter.limit == 1
    seen = []
    for _ in range(1 + 2 + 3 + 5):
        limiter.succeeded()
        seen.append(limiter.limit)
    assert seen == [2, 2, 3, 3, 3, 4, 4, 4, 4, 4, 4]


def test_a_pushback_resets_the_run_of_successes() -> None:
    limiter = AdaptiveConcurrency(8)
    with limiter.slot() as slot:
        limiter.pushed_back(slot)
    for _ in range(3):
        limiter.succeeded()
    with limiter.slot() as slot:
        limiter.pushed_back(slot)
    limiter.succeeded()
    assert limiter.limit == 2  # 4 -> 2, and one success of the two needed


def test_a_lowered_limit_holds_new_requests_until_enough_finish() -> None:
    limiter = AdaptiveConcurrency(2)
    entered = threading.Event()
    with limiter.slot() as first, limiter.slot():
        limiter.pushed_back(first)  # limit 1, two in flight

        def third() -> None:
            with limiter.slot():
                entered.set()

        waiter = threading.Thread(target=third)
        waiter.start()
        assert not entered.wait(0.05)  # two still in flight
    waiter.join(5)
    assert entered.is_set() and limiter.peak_in_flight == 2


def client_of(server: ScriptServer, max_concurrency: int) -> DifyClient:
    return DifyClient(
        server.base_url,
        api_key="k",
        workspace_id="w",
        timeout=10,
        max_concurrency=max_concurrency,
        retry=replace(DIFY_CONSOLE_RETRY, sleep=lambda _: None),
    )


def test_requests_in_flight_never_exceed_the_bound_even_with_more_threads() -> None:
    total, bound = 30, 3
    server: ScriptServer

    def answer(seen: Seen) -> Answer:
        # hold each request until the bound is reached (or all that are left are in flight)
        server.wait_until(lambda s: s.in_flight >= min(bound, total - s.answered))
        return json_answer(PROFILE)

    with ScriptServer(answer) as server, client_of(server, bound) as client:
        profiles = parallel_map(lambda _: client.account_profile(), list(range(total)), max_workers=10)
        assert client.concurrency.peak_in_flight == bound
    assert len(profiles) == total and server.peak_in_flight == bound


def test_a_burst_of_429s_halves_the_concurrency_and_successes_restore_it() -> None:
    maximum = 8
    server: ScriptServer
    lock = threading.Lock()
    throttled: list[int] = []

    def answer(seen: Seen) -> Answer:
        with lock:
            first_wave = len(throttled) < maximum
            if first_wave:
                throttled.append(1)
        if first_wave:  # the first 8 requests, all in flight together, get 429 without Retry-After
            server.wait_until(lambda s: s.in_flight >= maximum or s.answered > 0)
            return json_answer({"code": "too_many_requests", "message": "slow down", "status": 429}, 429)
        return json_answer(PROFILE)

    with ScriptServer(answer) as server, client_of(server, maximum) as client:
        parallel_map(lambda _: client.account_profile(), list(range(maximum)), max_workers=maximum)
        assert client.concurrency.lowest_limit == maximum // 2  # one burst, one halving
        assert client.concurrency.limit == 5  # 4 + 1 after four of the eight retries succeeded
        for _ in range(5 + 6 + 7):
            client.account_profile()
        assert client.concurrency.limit == maximum
    assert len(server.seen) == 8 + 8 + 18


# --- against the Dify simulator -------------------------------------------------------------------------

SIM_WINDOW = (datetime(2026, 6, 2, tzinfo=UTC), datetime(2026, 6, 3, tzinfo=UTC))


def simulated_run(
    max_concurrency: int, *faults: str, latency_ms: float = 0
) -> tuple[DifySimulator, DifyClient, FetchedEvents]:
    with DifySimulator(
        generate_workspace(3, date(2026, 6, 1), 2), api_key="k", latency_ms=latency_ms, faults=faults
    ) as dify:
        dify.set_now(datetime(2026, 6, 10, tzinfo=UTC))
        # 12 tries: a 1-in-10^6 chance per request at 30 %
        retry = replace(DIFY_CONSOLE_RETRY, sleep=lambda _: None, max_attempts=12)
        with DifyClient(
            dify.base_url,
            api_key="k",
            workspace_id=dify.workspace_id,
            timeout=10,
            max_concurrency=max_concurrency,
            retry=retry,
        ) as client:
            result = fetch_events(client, *SIM_WINDOW, timezone="UTC")
        return dify, client, result


@pytest.mark.integration
def test_the_simulator_never_sees_more_requests_at_once_than_the_bound() -> None:
    dify, client, result = simulated_run(3, latency_ms=2)
    assert_same_events(result.events, dify.workspace.ground_truth(*SIM_WINDOW, "UTC"))
    assert result.lowest_concurrency == 3 and result.retries == 0
    assert 2 <= dify.peak_concurrency <= 3 and client.concurrency.peak_in_flight <= 3


@pytest.mark.integration
def test_a_share_of_429s_lowers_the_concurrency_and_the_result_stays_exact() -> None:
    dify, client, result = simulated_run(8, "429:share=0.3:seed=11:retry_after=0")
    assert_same_events(result.events, dify.workspace.ground_truth(*SIM_WINDOW, "UTC"))
    assert dify.faults.injected_by_kind["429"] == result.retries > 50
    assert client.concurrency.lowest_limit == result.lowest_concurrency < 8
