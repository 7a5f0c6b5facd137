"""Read-only proof: the simulator's record of full runs, in both auth modes and through a session refresh,
holds only requests of the allowlist; nothing the client sent changed anything but what reading does."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from dify_meter.sandbox.dify.generate import generate_workspace
from dify_meter.sandbox.dify.server import DifySimulator
from dify_meter.sources.console.allowlist import ALLOWED_REQUESTS, allowed_template
from dify_meter.sources.console.client import DifyClient
from dify_meter_tests.support.console import NO_WAIT, assert_same_events, fetch_events

pytestmark = pytest.mark.integration

WINDOW = (datetime(2026, 6, 2, tzinfo=UTC), datetime(2026, 6, 3, tzinfo=UTC))
CLOCK = datetime(2026, 6, 10, tzinfo=UTC)
CONSOLE = "/console/api"


@pytest.mark.parametrize("mode", ["admin key", "login"])
def test_a_full_run_sends_only_allowlisted_requests(mode: str) -> None:
    with DifySimulator(
        generate_workspace(3, date(2026, 6, 1), 2), api_key="k", email="meter@example.com", password="pw"
    ) as dify:
        dify.set_now(CLOCK)
        dify.mutate_on("/node-executions", 3, lambda ws: dify.set_now(CLOCK + timedelta(hours=2)))  # a refresh
        credentials = (
            {"api_key": "k", "workspace_id": dify.workspace_id}
            if mode == "admin key"
            else {"email": "meter@example.com", "password": "pw"}
        )
        with DifyClient(dify.base_url, timeout=10, retry=NO_WAIT, page_limit=7, **credentials) as client:  # type: ignore[arg-type]
            result = fetch_events(client, *WINDOW, timezone="UTC")
            workspace = client.current_workspace()
        truth = dify.workspace.ground_truth(*WINDOW, "UTC")
    assert_same_events(result.events, truth)
    assert workspace.id == dify.workspace_id

    sent = {(record.method, record.path) for record in dify.request_log}
    assert all(path.startswith(CONSOLE + "/") for _, path in sent)
    templates = {(method, allowed_template(method, path.removeprefix(CONSOLE))) for method, path in sent}
    assert None not in {template for _, template in templates}, f"not allowlisted: {sent}"
    assert templates <= set(ALLOWED_REQUESTS)
    writes = {template for template in templates if template[0] != "GET"}
    expected_writes = {("POST", "/workspaces/current")}
    if mode == "login":
        expected_writes |= {("POST", "/login"), ("POST", "/refresh-token")}
    assert writes == expected_writes
    assert ("GET", "/apps/{id}/chat-conversations/{conversation_id}") in templates  # details were read, once each
    assert set(dify.detail_reads.values()) == {1}
