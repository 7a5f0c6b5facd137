"""A run under each fault kind of the simulator: transient ones heal and the result is the exact ground truth;
the others stop the run with a clear error, and the day's previous rows stay as they were."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from dify_meter.core.event import EVENT_COLUMNS, UsageEvent
from dify_meter.core.retry import DIFY_CONSOLE_RETRY
from dify_meter.core.store import DuckDBStore
from dify_meter.sandbox.dify.generate import generate_workspace
from dify_meter.sandbox.dify.server import DifySimulator
from dify_meter.settings import load_settings
from dify_meter.sources.console.client import DifyClient
from dify_meter.sources.console.errors import DifyConnectionError, DifyError, DifyHTTPError, DifyResponseError
from dify_meter_tests.support.console import FetchedEvents, assert_same_events, fetch_events
from dify_meter_tests.support.settings import refresh_raw

pytestmark = pytest.mark.integration

WINDOW = (datetime(2026, 6, 2, tzinfo=UTC), datetime(2026, 6, 3, tzinfo=UTC))
CLOCK = datetime(2026, 6, 10, 12, tzinfo=UTC)
# With a share of faulted requests, ten attempts make a request that fails them all a 1-in-10^7 event.
PATIENT = dict(max_attempts=10, max_total_wait=600.0)


@contextmanager
def serving(*faults: str) -> Iterator[DifySimulator]:
    with DifySimulator(generate_workspace(3, date(2026, 6, 1), 3), api_key="k", faults=faults) as dify:
        dify.set_now(CLOCK)
        yield dify


def fetch(dify: DifySimulator, sleeps: list[float], **policy: float) -> FetchedEvents:
    retry = replace(DIFY_CONSOLE_RETRY, sleep=sleeps.append, **policy)  # type: ignore[arg-type]
    with DifyClient(dify.base_url, api_key="k", workspace_id=dify.workspace_id, timeout=10, retry=retry) as client:
        return fetch_events(client, *WINDOW, timezone="UTC")


@pytest.mark.parametrize(
    "fault",
    [
        "500:share=0.2:seed=1",
        "502:share=0.2:seed=2",
        "503:share=0.2:seed=3",
        "504:share=0.2:seed=4",
        "429:share=0.2:seed=5:retry_after=2",
        "truncated:share=0.2:seed=6",
        "drop:share=0.2:seed=7",
    ],
)
def test_a_run_through_transient_faults_equals_the_ground_truth(fault: str) -> None:
    sleeps: list[float] = []
    with serving(fault) as dify:
        result = fetch(dify, sleeps, **PATIENT)
        truth = dify.workspace.ground_truth(*WINDOW, "UTC")
        injected = dify.faults.injected
    assert_same_events(result.events, truth)
    assert injected >= 20 and len(sleeps) == injected == result.retries  # each fault cost one retry
    assert result.dify_version == "1.12.1"
    if fault.startswith("429"):
        assert set(sleeps) == {2.0}  # Retry-After, not the backoff


def test_a_malformed_page_once_is_retried_and_the_result_is_exact() -> None:
    sleeps: list[float] = []
    with serving(
        "malformed:path=chat-conversations:next=1", "malformed:path=workflow-app-logs:body=json:next=1"
    ) as dify:
        result = fetch(dify, sleeps)
        truth = dify.workspace.ground_truth(*WINDOW, "UTC")
        assert dify.faults.injected == 2
    assert_same_events(result.events, truth)


def settings_for(dify: DifySimulator, store: DuckDBStore):  # type: ignore[no-untyped-def]
    return load_settings(
        _env_file=None,
        dify_api_url=dify.base_url,
        dify_api_key=dify.api_key,
        dify_workspace_id=dify.workspace_id,
        dify_timezone="UTC",
        dify_meter_duckdb=str(store.path),
    )


def stored(store: DuckDBStore) -> list[UsageEvent]:
    with store.connect_read_only() as conn:
        rows = conn.execute(f"SELECT {', '.join(EVENT_COLUMNS)} FROM raw_usage_events ORDER BY event_id").fetchall()
    return [UsageEvent(*row) for row in rows]


def test_a_malformed_page_twice_stops_the_run_and_leaves_the_previous_rows(tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = DuckDBStore(tmp_path / "m.duckdb")
    with serving() as dify:
        settings = settings_for(dify, store)
        refresh_raw(settings, store, *WINDOW)
        before = stored(store)
        app = next(a for a in dify.workspace.apps.values() if a.mode == "workflow" and a.status == "normal")
        dify.faults.add(f"malformed:path={app.id}/workflow-app-logs:next=2")
        with pytest.raises(DifyResponseError) as caught:
            refresh_raw(settings, store, *WINDOW)
    assert before and stored(store) == before
    assert str(caught.value).startswith(
        f"GET /apps/{{id}}/workflow-app-logs for app {app.name!r} ({app.id}): expected JSON, got text/html; "
        "charset=utf-8 starting with '<!DOCTYPE html>"
    )
    assert str(caught.value).endswith(
        f"', 2 times in a row. Is a proxy or a maintenance page answering for Dify at "
        f"{dify.base_url}/console/api? Run again once Dify answers normally."
    )


@pytest.mark.parametrize(
    ("fault", "error", "message"),
    [
        (
            "503:path=/account/profile:next=5",
            DifyHTTPError,
            "GET /account/profile failed with HTTP 503 (service_unavailable) after 5 attempts: Dify says: ",
        ),
        (
            "429:path=/account/profile:next=5:retry_after=1",
            DifyHTTPError,
            "GET /account/profile failed with HTTP 429 (too_many_requests) after 5 attempts: Dify says: ",
        ),
        (
            "truncated:path=/account/profile:next=5",
            DifyConnectionError,
            "GET /account/profile: Dify at {url}/console/api did not answer completely after 5 attempts "
            "(RemoteProtocolError: ",
        ),
        (
            "drop:path=/account/profile:next=5",
            DifyConnectionError,
            "GET /account/profile: Dify at {url}/console/api did not answer completely after 5 attempts "
            "(RemoteProtocolError: ",
        ),
        (
            "malformed:path=/account/profile:next=2",
            DifyResponseError,
            "GET /account/profile: expected JSON, got text/html; charset=utf-8 starting with '<!DOCTYPE html>",
        ),
    ],
)
def test_a_fault_that_does_not_heal_stops_the_run_with_a_clear_error(
    fault: str, error: type[DifyError], message: str
) -> None:
    sleeps: list[float] = []
    with serving(fault) as dify, pytest.raises(DifyError) as caught:
        fetch(dify, sleeps)
    assert type(caught.value) is error
    assert str(caught.value).startswith(message.format(url=dify.base_url))
