"""`dify-meter start`: one default export when the schedule is off; the Dagster webserver and daemon when on."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from dify_meter_tests.support.cli import SAT, SUN, TODAY, closed_port, exit_code, printed_totals, truth, truth_costs

pytestmark = pytest.mark.e2e
STARTUP_SECONDS = 120  # bounds, not expectations: the webserver answered after ~7 s here
SCHEDULES_QUERY = """{ schedulesOrError(repositorySelector: {repositoryName: "__repository__",
  repositoryLocationName: "dify_meter"}) { ... on Schedules { results { name scheduleState { status } } } } }"""


def test_with_the_schedule_off_it_runs_the_default_export_and_says_how_to_turn_it_on(
    configured, workspace, api_meter, monkeypatch, capsys
):
    monkeypatch.setenv("DIFY_START_DATE", str(SAT))  # the default range, instead of the previous month
    monkeypatch.setenv("DIFY_END_DATE", str(SUN))
    assert exit_code(["start"]) == 0
    out = capsys.readouterr().out
    assert "Exporting 2026-06-06 .. 2026-06-07 (2 days, UTC), mode per_model" in out
    ((requests, tokens, costs),) = printed_totals(out)
    expected = truth(workspace, SAT, SUN)
    assert (requests, tokens) == (len(expected), sum(e.total_tokens for e in expected))
    assert api_meter.totals().total_tokens == tokens
    assert {c: a for c, a in costs.items() if a} == truth_costs(expected)
    assert (
        "The daily schedule is off. To run it, set SCHEDULE_ENABLED=true and run `dify-meter start` again: it "
        "starts the Dagster webserver and daemon, and daily_usage_schedule runs at '0 1 * * *' (UTC)."
    ) in out


def test_with_the_schedule_off_a_default_range_into_today_is_a_usage_error(configured, monkeypatch):
    monkeypatch.setenv("DIFY_END_DATE", str(TODAY))
    assert exit_code(["start"]) == 2


def _processes_with(dagster_home: Path) -> list[int]:
    """Our processes whose environment holds this DAGSTER_HOME: dagster dev, webserver, daemon, code server."""
    marker = f"DAGSTER_HOME={dagster_home}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if marker in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
            except OSError:
                continue  # gone, or another user's
    return found


def test_with_the_schedule_on_it_serves_the_ui_with_the_schedule_running_and_stops_on_ctrl_c(configured):
    port = closed_port()
    env = {**os.environ, "SCHEDULE_ENABLED": "true"}
    server = subprocess.Popen(
        [sys.executable, "-m", "dify_meter.cli.main", "start", "--port", str(port)],
        env=env,
        cwd=configured,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            assert server.poll() is None, server.communicate()[0][-3000:]
            assert time.monotonic() < deadline, "the webserver never answered"
            try:
                if httpx.get(f"{base}/server_info", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        answer = httpx.post(f"{base}/graphql", json={"query": SCHEDULES_QUERY}, timeout=30).json()
        schedules = answer["data"]["schedulesOrError"]["results"]
        assert {"name": "daily_usage_schedule", "scheduleState": {"status": "RUNNING"}} in schedules
        assert len(_processes_with(configured / "dagster_home")) >= 3  # dagster dev, webserver, daemon, ...
        server.send_signal(signal.SIGINT)  # Ctrl-C
        output, _ = server.communicate(timeout=STARTUP_SECONDS)
    finally:
        server.kill()
    assert server.returncode == 0, output[-3000:]
    assert "Stopping the Dagster webserver and daemon ..." in output and "Stopped." in output
    assert _processes_with(configured / "dagster_home") == []  # webserver, daemon and code server are gone


def test_help_names_the_options(capsys):
    assert exit_code(["start", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--port" in out and "--host" in out and "SCHEDULE_ENABLED=true" in out
