"""The Dagster UI loads the code location: its GraphQL API lists every asset, check, job, schedule and sensor."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.e2e
PROJECT_ROOT = Path(__file__).resolve().parents[2]

QUERY = """
{
  repositoriesOrError {
    ... on RepositoryConnection {
      nodes {
        location { name }
        assetNodes {
          assetKey { path }
          groupName
          description
          assetChecksOrError { ... on AssetChecks { checks { name blocking } } }
        }
        jobs { name }
        schedules { name cronSchedule executionTimezone }
        sensors { name }
      }
    }
    ... on PythonError { message }
  }
}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_webserver_serves_the_code_location(tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(PROJECT_ROOT / "dify_meter/defs/templates/dagster.yaml", home / "dagster.yaml")
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "dagster_webserver", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
        cwd=PROJECT_ROOT,
        env={**os.environ, "DAGSTER_HOME": str(home)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        data = None
        while time.monotonic() < deadline and data is None:
            try:
                answer = httpx.post(f"http://127.0.0.1:{port}/graphql", json={"query": QUERY}, timeout=10)
                nodes = answer.json()["data"]["repositoriesOrError"].get("nodes")
                data = nodes or None
            except (httpx.HTTPError, ValueError, KeyError, TypeError):
                pass
            if data is None:
                assert server.poll() is None, "the webserver exited"
                time.sleep(1)
        assert data, "the webserver did not answer with the code location in time"
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)
    (repository,) = data
    assert repository["location"]["name"] == "dify_meter"
    assets = {"/".join(node["assetKey"]["path"]): node for node in repository["assetNodes"]}
    assert set(assets) == {
        "raw_usage_events",
        "usage_per_model",
        "usage_per_user",
        "usage_per_app",
        "usage_workspace",
        "api_meter_sent",
    }
    assert all(node["groupName"] and node["description"] for node in assets.values())
    per_model_checks = {c["name"]: c["blocking"] for c in assets["usage_per_model"]["assetChecksOrError"]["checks"]}
    assert per_model_checks["normalization"] is True and per_model_checks["currency"] is False
    raw_checks = {c["name"] for c in assets["raw_usage_events"]["assetChecksOrError"]["checks"]}
    assert raw_checks == {"dify_numbers", "approximate_usage", "apps_not_read"}
    assert {"daily_usage_job", "api_meter_replay_job"} <= {job["name"] for job in repository["jobs"]}
    assert [s["name"] for s in repository["schedules"]] == ["daily_usage_schedule"]
    assert sorted(s["name"] for s in repository["sensors"]) == [
        "alert_on_run_failure",
        "delivery_deadline_sensor",
        "spool_exhausted_alert_sensor",
        "spool_replay_sensor",
    ]
